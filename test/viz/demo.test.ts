/**
 * @host-network: it adds and removes links on this host, so it runs alone (scripts/run-tests.js).
 * viz against the running demo (as root: emojivoto as pods): the test sends its own
 * known traffic to the web pod from the host, outside the mesh (4.5 req/s listing the
 * ballot, 0.5 req/s voting for the doughnut, which fails: 90% success at 5 req/s, under
 * its own authority), and reads it back with `weft viz stat`, `routes`, `edges` and `tap`
 * beside the demo's own traffic (the vote bot).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import type { EdgeRow } from '../../src/viz/edges.js';
import type { RouteRow } from '../../src/viz/routes.js';
import type { StatRow } from '../../src/viz/stat.js';
import { Load } from '../helpers/controlplane.js';
import { waitFor } from '../helpers/net.js';
import { requirePrivileged } from '../helpers/netns.js';
import { startDemoProcess } from '../helpers/pods.js';
import { WEFT_BIN } from '../helpers/proxy.js';
import { near, type Running, runStreaming, trafficWindow, vizJson } from '../helpers/viz.js';

const AUTHORITY = 'viz-test.local';
// Doughnut votes, which fail, are one request in ten. voting-svc has no failure accrual
// annotation, so web's proxy never takes voting out for them (with one, a run of failures
// in a row would, and the votes would wait or fail as 503s).
const LIST_RATE = 4.5;
const VOTE_RATE = 0.5;
const RATE = LIST_RATE + VOTE_RATE;
const NS = 'emojivoto';

describe('viz against the demo', () => {
  test('stat, routes, edges and tap show the demo and the traffic the test sends', {
    timeout: 180_000,
  }, async (t) => {
    if (!requirePrivileged(t, ['iptables-legacy'])) return;
    const bridge = `wvz${process.pid % 10000}`;
    const demo = startDemoProcess([
      '--pod-bridge',
      bridge,
      '--pod-cidr',
      '10.209.0.0/16',
      '--service-cidr',
      '10.210.0.0/16',
      '--metrics-scrape-interval',
      '1s',
    ]);
    const loads: Load[] = [];
    let tap: Running | undefined;
    try {
      const out = await demo.guide(60_000);
      const web = /The voting page: +http:\/\/([\d.]+):8080\//.exec(out)?.[1];
      const vizAddr = /The dashboard: +http:\/\/([\d.:]+)\//.exec(out)?.[1];
      assert.ok(web && vizAddr, out);
      assert.match(
        out,
        new RegExp(`Golden metrics: +weft viz stat deploy -n ${NS} --viz-addr ${vizAddr}\\n`),
      );
      const viz = <R>(args: string[]): Promise<R> => vizJson<R>(vizAddr, [...args, '-n', NS, '-t', '10s']);
      // The guide's profile for voting-svc: per-route metrics of web's calls to it.
      const apply = /^Per-route metrics: +(weft profile .*)$/m.exec(out)?.[1];
      assert.ok(apply, out);
      execFileSync('sh', ['-c', apply.replaceAll('weft ', `${WEFT_BIN} `)], { stdio: 'pipe' });

      const target = { host: web, port: 8080 };
      loads.push(
        new Load(target, { authority: AUTHORITY, path: '/api/list', rate: LIST_RATE, concurrency: 4 }),
        new Load(target, {
          authority: AUTHORITY,
          path: '/api/vote?choice=:doughnut:',
          rate: VOTE_RATE,
          concurrency: 2,
        }),
      );
      // Tap the test's own requests while they flow.
      const tapped = runStreaming(WEFT_BIN, [
        'viz',
        'tap',
        'deploy/web',
        '-n',
        NS,
        '--authority',
        AUTHORITY,
        '--viz-addr',
        vizAddr,
      ]);
      tap = tapped;
      await trafficWindow();
      assert.ok(loads.every((l) => l.count > 0) && loads[0]?.failures().length === 0, 'the listing succeeds');
      assert.ok(
        (loads[1]?.samples ?? []).every((s) => s.status === 500),
        'the doughnut vote fails',
      );

      const deploys = await viz<StatRow[]>(['stat', 'deploy']);
      assert.deepEqual(
        deploys.map((r) => [r.name, r.meshed]),
        ['emoji', 'vote-bot', 'voting', 'web'].map((n) => [n, { meshed: 1, total: 1 }]),
      );
      const byName = new Map(deploys.map((r) => [r.name, r]));
      assert.ok((byName.get('web')?.requests?.rps ?? 0) >= RATE * 0.85, JSON.stringify(byName.get('web')));
      // voting receives the doughnut votes, which fail (the rate is the bot's as well as
      // the test's, so only the test's own authority below is held to its known rate).
      const voting = byName.get('voting')?.requests;
      assert.ok(
        voting && voting.rps > 0 && (voting.successRate ?? 1) < 1,
        JSON.stringify(byName.get('voting')),
      );

      const authorities = await viz<StatRow[]>(['stat', 'au']);
      const mine = authorities.find((r) => r.name === AUTHORITY);
      near(mine?.requests?.rps, RATE, 0.15, 'the test authority rps');
      near(mine?.requests?.successRate, LIST_RATE / RATE, 0.05, 'the test authority success');

      const routes = await viz<RouteRow[]>(['routes', 'deploy/web', '--to', 'svc/voting-svc']);
      const doughnut = routes.find((r) => r.route === 'VoteDoughnut');
      assert.equal(doughnut?.requests?.successRate, 0, JSON.stringify(routes));
      assert.ok((doughnut?.requests?.rps ?? 0) > 0, JSON.stringify(doughnut));
      assert.ok(
        routes.some((r) => r.route === 'VoteJoy'),
        'routes without traffic are listed too',
      );

      const edges = await viz<EdgeRow[]>(['edges', 'deploy']);
      const edge = (src: string, dst: string) => edges.find((e) => e.src === src && e.dst === dst);
      for (const [src, dst] of [
        ['web', 'emoji'],
        ['web', 'voting'],
        ['vote-bot', 'web'],
      ] as const) {
        assert.equal(edge(src, dst)?.secured, true, `${src} -> ${dst}: ${JSON.stringify(edges)}`);
      }
      assert.equal(
        edge('web', 'voting')?.serverId,
        `voting.${NS}.serviceaccount.identity.weft.cluster.local`,
      );
      const outside = edge('', 'web');
      assert.equal(outside?.secured, false, JSON.stringify(edges));
      assert.equal(outside?.noTlsReason, 'no_tls_from_remote');

      await waitFor(
        () => (tapped.out.match(/^end /gm) ?? []).length >= 10,
        `ten tapped requests\n${tapped.out}`,
        15_000,
        50,
      );
      const lines = tapped.out.trim().split('\n');
      for (const l of lines.filter((x) => x.startsWith('req '))) {
        assert.match(
          l,
          new RegExp(
            `proxy=in  src=10\\.209\\.0\\.1:\\d+ dst=${web.replaceAll('.', '\\.')}:8080 tls=false :method=GET :authority=${AUTHORITY} :path=/api/(list|vote)$`,
          ),
        );
      }
      const statuses = lines.filter((x) => x.startsWith('rsp ')).map((x) => /:status=(\d+)/.exec(x)?.[1]);
      assert.ok(statuses.includes('200') && statuses.includes('500'), statuses.join(','));
    } finally {
      tap?.proc.kill('SIGINT');
      await Promise.all(loads.map((l) => l.stop()));
      demo.interrupt();
    }
    assert.equal(await demo.exited, 0, demo.output.err);
  });
});
