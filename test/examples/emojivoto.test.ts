/**
 * emojivoto (examples/emojivoto) end to end: each program a real process on loopback,
 * talked to with a plain grpc-js client or HTTP, as a mesh's pods would be.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { afterEach, describe, it } from 'node:test';
import vm from 'node:vm';
import * as grpc from '@grpc/grpc-js';
import { EMOJI } from '../../examples/emojivoto/lib/emojis.js';
import { Cleanup, LOOPBACK, waitFor } from '../helpers/net.js';
import {
  freePorts,
  grpcClient,
  loadProtos,
  logsWith,
  type ProgramName,
  runExpectExit,
  serviceDef,
  startProgram,
  startStack,
  unary,
  webGet,
} from './emojivoto-helpers.js';

interface EmojiMsg {
  unicode: string;
  shortcode: string;
}

const pkg = loadProtos();
const emojiService = serviceDef(pkg, 'emojivoto.v1.EmojiService');
const votingService = serviceDef(pkg, 'emojivoto.v1.VotingService');

let cleanup = new Cleanup();
afterEach(async () => {
  await cleanup.run();
  cleanup = new Cleanup();
});

describe('emoji service', () => {
  it('ListAll returns the whole ballot and FindByShortcode looks emoji up', async () => {
    const [port = 0] = await freePorts(1);
    const emoji = await startProgram(cleanup, 'emoji', { GRPC_PORT: String(port) });
    assert.equal(emoji.start.port, port);
    assert.match(String(emoji.start.msg), /emoji service listening/);
    const client = grpcClient(cleanup, port);

    const { list } = await unary<{ list: EmojiMsg[] }>(client, emojiService, 'ListAll', {});
    assert.deepEqual(
      list,
      EMOJI.map((e) => ({ unicode: e.unicode, shortcode: e.shortcode })),
    );
    assert.equal(list.length, 99);
    assert.deepEqual(list[0], { unicode: '\u{1F602}', shortcode: ':joy:' });
    assert.ok(list.some((e) => e.shortcode === ':doughnut:' && e.unicode === '\u{1F369}'));
    assert.ok(list.some((e) => e.shortcode === ':poop:' && e.unicode === '\u{1F4A9}'));

    const found = await unary<{ emoji: EmojiMsg | null }>(client, emojiService, 'FindByShortcode', {
      shortcode: ':doughnut:',
    });
    assert.deepEqual(found.emoji, { unicode: '\u{1F369}', shortcode: ':doughnut:' });
    const missing = await unary<{ emoji: EmojiMsg | null }>(client, emojiService, 'FindByShortcode', {
      shortcode: ':nope:',
    });
    assert.equal(missing.emoji, null, 'an unknown shortcode is an empty answer, not an error');
  });
});

describe('voting service', () => {
  it('counts votes, sorts Results by votes, and fails VoteDoughnut with UNKNOWN "ERROR"', async () => {
    const [port = 0] = await freePorts(1);
    const voting = await startProgram(cleanup, 'voting', { GRPC_PORT: String(port) });
    assert.equal(voting.start.port, port);
    const client = grpcClient(cleanup, port);

    const empty = await unary<{ results: unknown[] }>(client, votingService, 'Results', {});
    assert.deepEqual(empty.results, []);

    await unary(client, votingService, 'VotePoop', {});
    await unary(client, votingService, 'VoteJoy', {});
    await unary(client, votingService, 'VoteJoy', {});
    await unary(client, votingService, 'VoteStuckOutTongueWinkingEye', {});
    await unary(client, votingService, 'VoteStuckOutTongueWinkingEye', {});
    await unary(client, votingService, 'VoteStuckOutTongueWinkingEye', {});
    await unary(client, votingService, 'Vote100', {});

    await assert.rejects(unary(client, votingService, 'VoteDoughnut', {}), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.UNKNOWN);
      assert.equal(err.details, 'ERROR');
      return true;
    });

    const { results } = await unary<{ results: Array<{ Shortcode: string; Votes: number }> }>(
      client,
      votingService,
      'Results',
      {},
    );
    assert.deepEqual(results, [
      { Shortcode: ':stuck_out_tongue_winking_eye:', Votes: 3 },
      { Shortcode: ':joy:', Votes: 2 },
      { Shortcode: ':100:', Votes: 1 },
      { Shortcode: ':poop:', Votes: 1 },
    ]);
    // The log line travels over the child's stdout pipe, which can arrive after the gRPC answer.
    await waitFor(
      () => logsWith(voting, 'failing the vote for doughnut').length >= 1,
      'the doughnut failure log',
    );
    assert.equal(logsWith(voting, 'failing the vote for doughnut').length, 1);
  });

  it('counts doughnut votes when FAILURE_RATE=0', async () => {
    const [port = 0] = await freePorts(1);
    const voting = await startProgram(cleanup, 'voting', { GRPC_PORT: String(port), FAILURE_RATE: '0' });
    assert.equal(voting.start.failureRate, 0);
    const client = grpcClient(cleanup, port);
    await unary(client, votingService, 'VoteDoughnut', {});
    const { results } = await unary<{ results: unknown[] }>(client, votingService, 'Results', {});
    assert.deepEqual(results, [{ Shortcode: ':doughnut:', Votes: 1 }]);
  });
});

describe('web service', () => {
  it('serves the API and the page, and surfaces the doughnut failure as a 500', async () => {
    const s = await startStack(cleanup);
    assert.equal(s.web.start.port, s.webPort);
    assert.equal(s.web.start.emojisvcHost, `${LOOPBACK}:${s.emojiPort}`);
    assert.equal(s.web.start.votingsvcHost, `${LOOPBACK}:${s.votingPort}`);

    const list = await webGet(s.webPort, '/api/list');
    assert.equal(list.status, 200);
    assert.equal(list.contentType, 'application/json; charset=UTF-8');
    const emoji = JSON.parse(list.text) as Array<Record<string, string>>;
    assert.equal(emoji.length, 99);
    assert.deepEqual(emoji[0], { shortcode: ':joy:', unicode: '\u{1F602}' });
    assert.ok(list.text.startsWith('[{"shortcode":":joy:","unicode":"\u{1F602}"},'), list.text.slice(0, 80));

    for (const choice of [':joy:', ':joy:', ':poop:']) {
      const r = await webGet(s.webPort, `/api/vote?choice=${choice}`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.text, '');
    }
    // Encoded, and as a form post (the original reads the choice with FormValue).
    assert.equal((await webGet(s.webPort, '/api/vote?choice=%3Ajoy%3A')).status, 200);
    const posted = await webGet(s.webPort, '/api/vote', {
      method: 'POST',
      body: 'choice=%3Aflushed%3A',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(posted.status, 200, posted.text);

    const doughnut = await webGet(s.webPort, '/api/vote?choice=:doughnut:');
    assert.equal(doughnut.status, 500);
    assert.equal(doughnut.contentType, 'application/json; charset=UTF-8');
    assert.deepEqual(JSON.parse(doughnut.text), { error: 'rpc error: code = Unknown desc = ERROR' });

    const unknown = await webGet(s.webPort, '/api/vote?choice=:nope:');
    assert.equal(unknown.status, 400);
    assert.match((JSON.parse(unknown.text) as { error: string }).error, /:nope:/);
    const none = await webGet(s.webPort, '/api/vote');
    assert.equal(none.status, 400);
    assert.match((JSON.parse(none.text) as { error: string }).error, /mandatory/);

    const board = await webGet(s.webPort, '/api/leaderboard');
    assert.equal(board.status, 200);
    assert.deepEqual(JSON.parse(board.text), [
      { shortcode: ':joy:', unicode: '\u{1F602}', votes: '3' },
      { shortcode: ':flushed:', unicode: '\u{1F633}', votes: '1' },
      { shortcode: ':poop:', unicode: '\u{1F4A9}', votes: '1' },
    ]);

    for (const path of ['/', '/leaderboard']) {
      const page = await webGet(s.webPort, path);
      assert.equal(page.status, 200);
      assert.match(page.contentType, /^text\/html/);
      assert.match(page.text, /<title>Emoji Vote<\/title>/);
      assert.doesNotMatch(page.text, /<(script|link)[^>]+(src|href)="?https?:/, 'the page is self-contained');
      const script = /<script>([\s\S]*)<\/script>/.exec(page.text)?.[1] ?? '';
      for (const api of ['/api/list', '/api/vote?choice=', '/api/leaderboard']) {
        assert.ok(script.includes(api), `the inline script calls ${api}`);
      }
      // The inline app at least parses as JavaScript.
      assert.doesNotThrow(() => new vm.Script(script, { filename: 'index.html' }));
    }
    assert.equal((await webGet(s.webPort, '/api/nothing')).status, 404);

    // Each failure was logged by the web service as the error it answered.
    await waitFor(() => logsWith(s.web, 'error serving request').length >= 3, 'web error logs');
    assert.ok(logsWith(s.web, 'error serving request').some((r) => r.status === 500));
  });

  it('shows MESSAGE_OF_THE_DAY, escaped', async () => {
    const [port = 0] = await freePorts(1);
    await startProgram(cleanup, 'web', {
      WEB_PORT: String(port),
      MESSAGE_OF_THE_DAY: 'Vote <b>now</b> & often',
    });
    const page = await webGet(port, '/');
    assert.match(page.text, /Vote &#60;b&#62;now&#60;\/b&#62; &#38; often/);
  });

  it('answers 500 with a JSON error when a backend is down', async () => {
    const [webPort = 0, downPort = 0] = await freePorts(2);
    await startProgram(cleanup, 'web', {
      WEB_PORT: String(webPort),
      EMOJISVC_HOST: `${LOOPBACK}:${downPort}`,
      VOTINGSVC_HOST: `${LOOPBACK}:${downPort}`,
    });
    const r = await webGet(webPort, '/api/list');
    assert.equal(r.status, 500);
    assert.match((JSON.parse(r.text) as { error: string }).error, /^rpc error: code = Unavailable desc = /);
  });
});

describe('vote-bot', () => {
  it('votes through the web service; votes reach the leaderboard and the doughnut fails', async () => {
    const s = await startStack(cleanup);
    const bot = await startProgram(cleanup, 'vote-bot', {
      WEB_HOST: `${LOOPBACK}:${s.webPort}`,
      VOTE_BOT_INTERVAL_MS: '50',
    });
    assert.equal(bot.start.webHost, `${LOOPBACK}:${s.webPort}`);
    assert.equal(bot.start.intervalMs, 50);

    const voted = () => logsWith(bot, /^voted for /);
    const doughnutFailures = () =>
      logsWith(bot, 'vote failed').filter((r) => r.choice === ':doughnut:' && r.status === 500);
    await waitFor(
      () => voted().length >= 5 && doughnutFailures().length >= 1,
      'votes and a doughnut failure',
      30_000,
    );
    const failure = doughnutFailures()[0];
    assert.equal(failure?.error, 'rpc error: code = Unknown desc = ERROR');

    const counted = voted();
    const board = JSON.parse((await webGet(s.webPort, '/api/leaderboard')).text) as Array<{
      shortcode: string;
      votes: string;
    }>;
    const total = board.reduce((n, r) => n + Number(r.votes), 0);
    assert.ok(total >= counted.length, `leaderboard total ${total} < ${counted.length} votes the bot logged`);
    for (const r of counted) {
      assert.ok(
        board.some((b) => b.shortcode === r.choice),
        `${String(r.choice)} is missing from the leaderboard`,
      );
    }
    assert.ok(!board.some((b) => b.shortcode === ':doughnut:'), 'no doughnut vote is ever counted');
    // The web service saw the bot's traffic: ballots listed and votes cast through gRPC.
    await waitFor(
      () => logsWith(s.voting, 'voted').length >= counted.length,
      'the voting service to log the votes',
    );

    assert.equal(await bot.stop('SIGTERM'), 0);
    assert.ok(logsWith(bot, 'stopped').length === 1);
  });
});

describe('configuration', () => {
  const cases: Array<[ProgramName, Record<string, string>, RegExp]> = [
    ['emoji', { GRPC_PORT: 'abc' }, /GRPC_PORT="abc" is not a port/],
    ['voting', { GRPC_PORT: '70000' }, /GRPC_PORT="70000" is not a port/],
    ['voting', { FAILURE_RATE: '1.5' }, /FAILURE_RATE="1.5"/],
    ['voting', { ARTIFICIAL_DELAY: 'soon' }, /ARTIFICIAL_DELAY="soon" is not a duration/],
    ['web', { WEB_PORT: '-1' }, /WEB_PORT="-1" is not a port/],
    [
      'web',
      { EMOJISVC_HOST: 'emoji-svc' },
      /EMOJISVC_HOST="emoji-svc" is not a valid address: the port is missing/,
    ],
    ['web', { VOTINGSVC_HOST: 'bad host:8080' }, /VOTINGSVC_HOST="bad host:8080" is not a valid address/],
    ['vote-bot', { WEB_HOST: 'web-svc:0' }, /WEB_HOST="web-svc:0" is not a valid address/],
    ['vote-bot', { VOTE_BOT_INTERVAL_MS: 'fast' }, /VOTE_BOT_INTERVAL_MS="fast" is not valid/],
    ['vote-bot', { http_proxy: 'ftp://proxy:21' }, /http_proxy="ftp:\/\/proxy:21": only http:\/\/ proxies/],
  ];
  it('a bad value is one line on stderr and exit status 2', async () => {
    const results = await Promise.all(cases.map(([name, env]) => runExpectExit(name, env)));
    results.forEach((r, i) => {
      const [name, env, pattern] = cases[i] as (typeof cases)[number];
      const what = `${name} ${JSON.stringify(env)}`;
      assert.equal(r.code, 2, `${what}: exit ${r.code}, stderr ${r.stderr}`);
      assert.equal(r.stdout, '', `${what}: nothing on stdout`);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, `${what}: one line, got ${JSON.stringify(r.stderr)}`);
      assert.ok(lines[0]?.startsWith(`${name}: `), `${what}: ${lines[0]}`);
      assert.match(lines[0] ?? '', pattern);
    });
  });

  it('a port already in use fails the start with exit status 1', async () => {
    const [port = 0] = await freePorts(1);
    await startProgram(cleanup, 'emoji', { GRPC_PORT: String(port) });
    const r = await runExpectExit('voting', { GRPC_PORT: String(port) });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^voting: failed to start: .*(EADDRINUSE|in use)/m);
  });
});

describe('shutdown', () => {
  it('SIGTERM (or SIGINT) stops each program cleanly with exit status 0', async () => {
    const s = await startStack(cleanup);
    const bot = await startProgram(cleanup, 'vote-bot', {
      WEB_HOST: `${LOOPBACK}:${s.webPort}`,
      VOTE_BOT_INTERVAL_MS: '20',
    });
    await waitFor(() => logsWith(bot, /^voted for |^vote failed$/).length >= 1, 'a first vote');

    // An idle keep-alive connection must not hold the web service open.
    const agent = new http.Agent({ keepAlive: true });
    cleanup.add(() => agent.destroy());
    await new Promise<void>((resolve, reject) => {
      http
        .get({ host: LOOPBACK, port: s.webPort, path: '/api/list', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        })
        .on('error', reject);
    });

    assert.equal(await bot.stop('SIGTERM'), 0);
    assert.equal(await s.web.stop('SIGTERM'), 0);
    assert.equal(await s.voting.stop('SIGINT'), 0);
    assert.equal(await s.emoji.stop('SIGTERM'), 0);
    for (const p of [bot, s.web, s.voting, s.emoji]) {
      assert.equal(logsWith(p, 'shutting down').length, 1, `${p.name} logged its shutdown`);
      assert.equal(logsWith(p, 'stopped').length, 1, `${p.name} logged that it stopped`);
      assert.deepEqual(p.stderr, [], `${p.name} wrote nothing on stderr`);
    }
  });
});
