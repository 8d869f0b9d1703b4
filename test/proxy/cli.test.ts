/**
 * The proxy command line: the ready line, flags, environment variables, their
 * precedence, and bad values.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Echo, startBannerApp, startEchoApp } from '../helpers/apps.js';
import {
  adminRequest,
  Cleanup,
  type HttpUpstream,
  RawConn,
  refusedPort,
  request,
  startBlackhole,
  type TcpServer,
  tryConnect,
  waitFor,
  withTimeout,
} from '../helpers/net.js';
import { baseArgs, runProxyExpectExit, startProxy } from '../helpers/proxy.js';

const T = { timeout: 30_000 };

describe('proxy command line', () => {
  const cleanup = new Cleanup();
  let app: HttpUpstream;
  let banner: TcpServer;
  let gone: number;

  before(async () => {
    app = await startEchoApp();
    cleanup.add(() => app.close());
    banner = await startBannerApp('HELLO-BANNER\n');
    cleanup.add(() => banner.close());
    gone = await refusedPort();
  });
  after(() => cleanup.run());

  test('prints a pino "proxy ready" line with the three bound addresses', T, async () => {
    const p = await startProxy(baseArgs(app.port));
    cleanup.add(() => p.stop('SIGKILL'));
    const line = p.stdoutLines.find((l) => l.includes('"proxy ready"'));
    assert.ok(line, 'ready line is on stdout');
    const rec = JSON.parse(line) as Record<string, unknown>;
    assert.equal(rec.msg, 'proxy ready');
    assert.equal(typeof rec.level, 'number', 'pino lines carry a numeric level');
    assert.equal(typeof rec.time, 'number', 'pino lines carry a time');
    for (const l of [p.inbound, p.outbound, p.admin]) {
      assert.equal(l.host, '127.0.0.1');
      assert.ok(l.port > 0 && l.port < 65536);
    }
    assert.equal(new Set([p.inbound.port, p.outbound.port, p.admin.port]).size, 3, 'three distinct ports');
    for (const l of [p.inbound, p.outbound, p.admin]) {
      assert.equal(await tryConnect(l.port), 'connected', `listener ${l.port} accepts connections`);
    }
    assert.equal(p.proc.exitCode, null, 'still running');
    await p.stop('SIGKILL'); // SIGTERM right after ready has its own test below
  });

  test(
    'SIGTERM sent right after the ready line is handled gracefully (exit 0), 30 times out of 30',
    T,
    async () => {
      const outcomes: string[] = [];
      // The race is narrow (a few percent per start on an idle machine), hence the repetitions.
      for (let i = 0; i < 30; i++) {
        const p = await startProxy(baseArgs(app.port));
        cleanup.add(() => p.stop('SIGKILL'));
        const code = await p.stop('SIGTERM');
        outcomes.push(code === 0 ? 'exit 0' : `exit ${code} / signal ${p.proc.signalCode}`);
      }
      const bad = outcomes.filter((o) => o !== 'exit 0');
      assert.deepEqual(bad, [], `${bad.length}/30 runs were not a graceful exit: ${bad.join(', ')}`);
    },
  );

  test('is configured entirely by WEFT_PROXY_* environment variables', T, async () => {
    const p = await startProxy([], {
      WEFT_PROXY_INBOUND_ADDR: '127.0.0.1:0',
      WEFT_PROXY_OUTBOUND_ADDR: '127.0.0.1:0',
      WEFT_PROXY_ADMIN_ADDR: '127.0.0.1:0',
      WEFT_PROXY_INBOUND_FORWARD: `127.0.0.1:${app.port}`,
      WEFT_PROXY_LOG: 'debug',
    });
    cleanup.add(() => p.stop('SIGKILL'));
    const r = await request({ host: '127.0.0.1', port: p.inbound.port, path: '/env-only' });
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.body.toString()) as Echo).url, '/env-only');
    assert.equal((await adminRequest(p.admin, '/live')).status, 200);
    await p.stop('SIGKILL');
  });

  test('a flag wins over its environment variable (--inbound-forward)', T, async () => {
    const p = await startProxy(baseArgs(app.port), { WEFT_PROXY_INBOUND_FORWARD: `127.0.0.1:${gone}` });
    cleanup.add(() => p.stop('SIGKILL'));
    const r = await request({ host: '127.0.0.1', port: p.inbound.port, path: '/flag-wins' });
    assert.equal(r.status, 200, `forwarded to the flag's app, not the env's refused port (${gone})`);
    assert.equal((JSON.parse(r.body.toString()) as Echo).url, '/flag-wins');
    await p.stop('SIGKILL');
  });

  test('a flag wins over its environment variable (--detect-timeout)', T, async () => {
    const p = await startProxy([...baseArgs(banner.port), '--detect-timeout', '200ms'], {
      WEFT_PROXY_DETECT_TIMEOUT: '60s',
    });
    cleanup.add(() => p.stop('SIGKILL'));
    const c = await RawConn.connect(p.inbound.port);
    const t0 = Date.now();
    // A silent client goes on as TCP after the flag's 200 ms, long before the env's 60 s:
    // the server-speaks-first app's banner reaches it.
    const got = await c.readAtLeast('HELLO-BANNER\n'.length, 10_000);
    assert.equal(got.toString(), 'HELLO-BANNER\n');
    assert.ok(Date.now() - t0 >= 150, `relayed after ${Date.now() - t0} ms, not before the timeout`);
    c.destroy();
    await p.stop('SIGKILL');
  });

  test('WEFT_PROXY_OPAQUE_PORTS and WEFT_PROXY_DETECT_TIMEOUT are honoured', T, async () => {
    const p = await startProxy(baseArgs(banner.port), {
      WEFT_PROXY_OPAQUE_PORTS: `1,${banner.port}`,
      WEFT_PROXY_DETECT_TIMEOUT: '60s',
    });
    cleanup.add(() => p.stop('SIGKILL'));
    const c = await RawConn.connect(p.inbound.port);
    const got = await c.readAtLeast('HELLO-BANNER\n'.length, 5_000);
    assert.equal(got.toString(), 'HELLO-BANNER\n', 'banner arrives without the client sending anything');
    c.destroy();
    await p.stop('SIGKILL');

    const q = await startProxy(baseArgs(banner.port), { WEFT_PROXY_DETECT_TIMEOUT: '200ms' });
    cleanup.add(() => q.stop('SIGKILL'));
    const d = await RawConn.connect(q.inbound.port);
    const t0 = Date.now();
    assert.equal((await d.readAtLeast('HELLO-BANNER\n'.length, 10_000)).toString(), 'HELLO-BANNER\n');
    assert.ok(Date.now() - t0 >= 150, 'the banner came once detection gave up, after 200 ms');
    d.destroy();
    await q.stop('SIGKILL');
  });

  test(
    'WEFT_PROXY_OUTBOUND_CONNECT_TIMEOUT and WEFT_PROXY_INBOUND_CONNECT_TIMEOUT are honoured',
    T,
    async () => {
      const hole = await startBlackhole();
      cleanup.add(() => hole.close());
      const p = await startProxy(baseArgs(hole.port), {
        WEFT_PROXY_OUTBOUND_CONNECT_TIMEOUT: '250ms',
        WEFT_PROXY_INBOUND_CONNECT_TIMEOUT: '400ms',
      });
      cleanup.add(() => p.stop('SIGKILL'));
      let t0 = Date.now();
      const o = await request({
        host: '127.0.0.1',
        port: p.outbound.port,
        path: `http://127.0.0.1:${hole.port}/`,
      });
      const outMs = Date.now() - t0;
      assert.equal(o.status, 504);
      assert.ok(
        outMs >= 200 && outMs < 900,
        `outbound connect timed out after ${outMs} ms (want ~250, default is 1 s)`,
      );
      t0 = Date.now();
      const i = await request({ host: '127.0.0.1', port: p.inbound.port, path: '/' });
      const inMs = Date.now() - t0;
      assert.equal(i.status, 504);
      assert.ok(inMs >= 350, `inbound connect timed out after ${inMs} ms (want ~400, default is 100)`);
      await p.stop('SIGKILL');
    },
  );

  test('WEFT_PROXY_SHUTDOWN_ENDPOINT_ENABLED=true enables POST /shutdown', T, async () => {
    const p = await startProxy(baseArgs(app.port), { WEFT_PROXY_SHUTDOWN_ENDPOINT_ENABLED: 'true' });
    cleanup.add(() => p.stop('SIGKILL'));
    const r = await adminRequest(p.admin, '/shutdown', 'POST');
    assert.equal(r.status, 200);
    assert.equal(await withTimeout(p.exited, 10_000, 'exit after /shutdown'), 0);
  });

  test('WEFT_PROXY_SHUTDOWN_ENDPOINT_ENABLED=false leaves POST /shutdown at 404', T, async () => {
    const p = await startProxy(baseArgs(app.port), { WEFT_PROXY_SHUTDOWN_ENDPOINT_ENABLED: 'false' });
    cleanup.add(() => p.stop('SIGKILL'));
    assert.equal((await adminRequest(p.admin, '/shutdown', 'POST')).status, 404);
    assert.equal(p.proc.exitCode, null);
    await p.stop('SIGKILL');
  });

  test(
    'WEFT_PROXY_SHUTDOWN_GRACE_PERIOD bounds how long SIGTERM waits for an open connection',
    T,
    async () => {
      const p = await startProxy(baseArgs(app.port), { WEFT_PROXY_SHUTDOWN_GRACE_PERIOD: '300ms' });
      cleanup.add(() => p.stop('SIGKILL'));
      // A connection that never finishes its request keeps the drain waiting for the whole grace period.
      const c = await RawConn.connect(p.inbound.port);
      cleanup.add(() => c.destroy());
      const seen = app.requests;
      c.write('POST /never-finished HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc');
      await waitFor(() => app.requests > seen, 'the request to reach the app');
      const t0 = Date.now();
      p.proc.kill('SIGTERM');
      await withTimeout(p.exited, 8_000, 'exit once the 300 ms grace period is over');
      assert.ok(Date.now() - t0 >= 250, 'waited for the grace period');
    },
  );

  const bad: Array<{ name: string; args?: string[]; env?: Record<string, string>; mention: RegExp }> = [
    { name: '--inbound-addr nope', args: ['--inbound-addr', 'nope'], mention: /inbound-addr/i },
    {
      name: '--outbound-addr port 99999',
      args: ['--outbound-addr', '127.0.0.1:99999'],
      mention: /outbound-addr/i,
    },
    { name: '--admin-addr without port', args: ['--admin-addr', '127.0.0.1'], mention: /admin-addr/i },
    { name: '--inbound-forward nope', args: ['--inbound-forward', 'nope'], mention: /inbound-forward/i },
    { name: '--opaque-ports 70000', args: ['--opaque-ports', '70000'], mention: /opaque-ports/i },
    { name: '--opaque-ports abc', args: ['--opaque-ports', '25,abc'], mention: /opaque-ports/i },
    { name: '--detect-timeout abc', args: ['--detect-timeout', 'abc'], mention: /detect-timeout/i },
    {
      name: '--outbound-connect-timeout 5 parsecs',
      args: ['--outbound-connect-timeout', '5parsecs'],
      mention: /outbound-connect-timeout/i,
    },
    {
      name: '--inbound-connect-timeout -1s',
      args: ['--inbound-connect-timeout=-1s'],
      mention: /inbound-connect-timeout/i,
    },
    {
      name: '--shutdown-grace-period xyz',
      args: ['--shutdown-grace-period', 'xyz'],
      mention: /shutdown-grace-period/i,
    },
    {
      name: 'WEFT_PROXY_OPAQUE_PORTS=70000',
      env: { WEFT_PROXY_OPAQUE_PORTS: '70000' },
      mention: /opaque-ports|WEFT_PROXY_OPAQUE_PORTS/i,
    },
    {
      name: 'WEFT_PROXY_DETECT_TIMEOUT=abc',
      env: { WEFT_PROXY_DETECT_TIMEOUT: 'abc' },
      mention: /detect-timeout|WEFT_PROXY_DETECT_TIMEOUT/i,
    },
    {
      name: 'WEFT_PROXY_LOG=bogus',
      env: { WEFT_PROXY_LOG: 'bogus' },
      mention: /WEFT_PROXY_LOG/,
    },
    {
      name: 'WEFT_PROXY_INBOUND_ADDR=nope',
      env: { WEFT_PROXY_INBOUND_ADDR: 'nope' },
      mention: /inbound-addr|WEFT_PROXY_INBOUND_ADDR/i,
    },
  ];
  for (const b of bad) {
    test(`a bad value (${b.name}) exits non-zero naming the flag`, T, async () => {
      // Start from a valid command line, then apply the bad flag last (or the bad env var alone).
      const base = baseArgs(app.port);
      const args = b.args ? [...base, ...b.args] : base.filter((_, i, a) => !isOverriddenByEnv(a, i, b.env));
      const r = await runProxyExpectExit(args, b.env);
      assert.equal(
        r.timedOut,
        false,
        `the proxy kept running with ${b.name}; stdout: ${r.stdout.slice(0, 500)}`,
      );
      assert.notEqual(r.code, 0, `exit code for ${b.name}`);
      assert.notEqual(r.code, null, `killed by ${r.signal} rather than exiting`);
      assert.match(r.stderr, b.mention, `stderr names the flag; stderr was: ${r.stderr.slice(0, 500)}`);
      assert.ok(!r.stdout.includes('"proxy ready"'), 'never became ready');
    });
  }

  test('bad values exit with code 2', T, async () => {
    const r = await runProxyExpectExit([...baseArgs(app.port), '--opaque-ports', '70000']);
    assert.equal(r.code, 2, `exit code; stderr: ${r.stderr.slice(0, 300)}`);
  });

  test('an unknown flag exits non-zero', T, async () => {
    const r = await runProxyExpectExit([...baseArgs(app.port), '--no-such-flag']);
    assert.equal(r.timedOut, false);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no-such-flag/);
  });

  test('a listen address already in use exits non-zero', T, async () => {
    const p = await startProxy(baseArgs(app.port));
    cleanup.add(() => p.stop('SIGKILL'));
    const r = await runProxyExpectExit([
      '--inbound-addr',
      `127.0.0.1:${p.inbound.port}`,
      '--outbound-addr',
      '127.0.0.1:0',
      '--admin-addr',
      '127.0.0.1:0',
      '--inbound-forward',
      `127.0.0.1:${app.port}`,
    ]);
    assert.equal(r.timedOut, false, 'the second proxy must not hang or run without its inbound listener');
    assert.notEqual(r.code, 0);
    assert.ok(!r.stdout.includes('"proxy ready"'), 'never became ready');
    await p.stop('SIGKILL');
  });
});

/** With an env var under test, drop the matching flag and its value from the base args. */
function isOverriddenByEnv(args: string[], i: number, env: Record<string, string> | undefined): boolean {
  if (!env) return false;
  const flagOf = (k: string): string =>
    `--${k
      .replace(/^WEFT_PROXY_/, '')
      .toLowerCase()
      .replace(/_/g, '-')}`;
  const flags = Object.keys(env).map(flagOf);
  const cur = args[i] as string;
  const prev = i > 0 ? (args[i - 1] as string) : '';
  return flags.includes(cur) || flags.includes(prev);
}
