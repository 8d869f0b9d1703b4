/**
 * Pods without root (`weft up --pod-mode loopback`, the mode weft up falls back to when it
 * cannot make network namespaces): each application on a loopback port behind its proxy,
 * calling out through it by HTTP_PROXY. The hop between the proxies is still mutual TLS.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { identityName } from '../../src/identity/names.js';
import type { EdgeRow } from '../../src/viz/edges.js';
import type { RouteRow } from '../../src/viz/routes.js';
import type { StatRow } from '../../src/viz/stat.js';
import {
  type ControlPlaneHandle,
  Load,
  serviceYaml,
  startControlPlane,
  weft,
  weftOk,
} from '../helpers/controlplane.js';
import { refusedPort, waitFor } from '../helpers/net.js';
import { startDemoProcess, waitForLogs, weftRun } from '../helpers/pods.js';
import { WEFT_BIN } from '../helpers/proxy.js';
import { trafficWindow, vizJson } from '../helpers/viz.js';

const T = { timeout: 60_000 };
const NS = 'emojivoto';

/** The job: a plain HTTP client that honours http_proxy, as curl does. */
const JOB = `
const proxy = new URL(process.env.http_proxy);
require('node:http').get({ host: proxy.hostname, port: proxy.port, path: 'http://web/', headers: { host: 'web' } }, (r) => {
  let b = '';
  r.on('data', (d) => (b += d));
  r.on('end', () => { console.log('answer ' + r.statusCode + ' ' + b); process.exit(r.statusCode === 200 ? 0 : 1); });
}).on('error', (e) => { console.log('error ' + e.message); process.exit(1); });
`;

describe('pods on loopback', () => {
  let cp: ControlPlaneHandle | undefined;
  after(async () => {
    await cp?.stop('SIGINT');
  });

  test('weft run without namespaces: an explicit proxy per pod, mTLS between them', T, async () => {
    cp = await startControlPlane({ extraArgs: ['--pod-mode', 'loopback'] });
    const control = cp;
    await weftOk(cp, ['apply', '-f', '-'], serviceYaml('web'));
    const port = await refusedPort();
    const server = `require('node:http').createServer((q, s) => s.end(JSON.stringify({ clientId: q.headers['weft-client-id'] ?? null }))).listen(${port}, '127.0.0.1', () => console.log('listening'))`;
    assert.match(
      await weftRun(control, ['web', '--port', String(port)], [process.execPath, '-e', server]),
      /running \(127\.0\.0\.1\)/,
    );
    await waitForLogs(control, 'web', /listening/, 'the web application to listen', { flags: ['--app'] });
    await weftRun(control, ['vote', '--restart', 'OnFailure'], [process.execPath, '-e', JOB]);
    const logs = await waitForLogs(control, 'vote', /answer /, 'the job to answer', { flags: ['--app'] });
    const answer = /answer (\d+) (.*)$/m.exec(logs);
    assert.equal(answer?.[1], '200', logs);
    assert.deepEqual(JSON.parse(answer?.[2] ?? '{}'), { clientId: identityName('vote', 'default') });
    assert.ok(
      cp.logs(
        'running on loopback: interception is off, the application calls out through its proxy (HTTP_PROXY, grpc_proxy)',
      ).length >= 2,
      'weft up says interception is off',
    );
  });
});

describe('weft demo --loopback', () => {
  test('emojivoto on loopback ports: its Deployments applied, and the same edges, routes and success rates as pods', {
    timeout: 120_000,
  }, async () => {
    const demo = startDemoProcess([
      '--loopback',
      '--pod-bridge',
      `wi17l${process.pid % 10000}`,
      '--pod-cidr',
      '10.221.0.0/16',
      '--service-cidr',
      '10.222.0.0/16',
      '--metrics-scrape-interval',
      '1s',
    ]);
    let controlPlane: string | undefined;
    let stateDir = '';
    let vote: Load | undefined;
    try {
      const out = await demo.guide(45_000);
      assert.equal((/^ {2}pod emojivoto\//gm[Symbol.match](out) ?? []).length, 4, out);
      const page = /The voting page: +(http:\/\/127\.0\.0\.1:(\d+)\/)/.exec(out);
      assert.ok(page, out);
      controlPlane = /--control-plane (\S+)/.exec(out)?.[1];
      stateDir = /--state-dir (\S+)/.exec(out)?.[1] ?? '';
      const list = await fetch(`${page[1]}api/list`);
      assert.equal(list.status, 200);
      assert.ok(((await list.json()) as unknown[]).length > 90, 'the emoji list');
      // Votes reach the leaderboard only through bot → web (HTTP_PROXY) → voting (grpc_proxy),
      // each hop between proxies over mutual TLS.
      await waitFor(
        async () => ((await (await fetch(`${page[1]}api/leaderboard`)).json()) as unknown[]).length > 0,
        'the bot to vote',
        30_000,
        300,
      );
      const workloads = JSON.parse(
        await weftOk({ grpcAddr: controlPlane ?? '', stateDir }, [
          'get',
          'workloads',
          '-n',
          NS,
          '-o',
          'json',
        ]),
      ) as { items: Array<{ workload: string; ready: boolean }> };
      assert.deepEqual(
        workloads.items
          .filter((w) => w.ready)
          .map((w) => w.workload)
          .sort(),
        ['emoji', 'vote-bot', 'voting', 'web'],
      );
      // weft up's Deployment controller runs them: weft get and viz know the Deployments.
      const deployments = (
        await weftOk({ grpcAddr: controlPlane ?? '', stateDir }, ['get', 'deploy', '-n', NS])
      )
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s+/).slice(0, 3));
      assert.deepEqual(
        deployments.sort(),
        ['emoji', 'vote-bot', 'voting', 'web'].map((d) => [d, '1/1', '1']),
      );

      // The guide's profile for voting-svc, as in the pod demo: web's gRPC calls ride
      // CONNECT tunnels (grpc_proxy), and each call inside them is a request with a route.
      const apply = /^Per-route metrics: +(weft profile .*)$/m.exec(out)?.[1];
      assert.ok(apply, out);
      execFileSync('sh', ['-c', apply.replaceAll('weft ', `${WEFT_BIN} `)], { stdio: 'pipe' });
      // The doughnut vote fails (emojivoto's bug): some failures voting must show.
      vote = new Load(
        { host: '127.0.0.1', port: Number(page[2]) },
        { authority: 'loopback-test.local', path: '/api/vote?choice=:doughnut:', rate: 1, concurrency: 2 },
      );
      await trafficWindow();
      const vizAddr = /The dashboard: +http:\/\/([\d.:]+)\//.exec(out)?.[1] ?? '';
      const viz = <R>(args: string[]): Promise<R> => vizJson<R>(vizAddr, [...args, '-n', NS, '-t', '10s']);

      const stat = await viz<StatRow[]>(['stat', 'deploy']);
      assert.deepEqual(
        stat.map((r) => [r.name, r.meshed]),
        ['emoji', 'vote-bot', 'voting', 'web'].map((d) => [d, { meshed: 1, total: 1 }]),
      );
      const byName = new Map(stat.map((r) => [r.name, r.requests]));
      // emoji and voting are no longer "-": their gRPC requests are counted.
      assert.ok((byName.get('emoji')?.rps ?? 0) > 0, JSON.stringify(stat));
      const voting = byName.get('voting');
      assert.ok(voting && voting.rps > 0 && (voting.successRate ?? 1) < 1, JSON.stringify(stat));

      const routes = await viz<RouteRow[]>(['routes', 'deploy/web', '--to', 'svc/voting-svc']);
      const doughnut = routes.find((r) => r.route === 'VoteDoughnut');
      assert.equal(doughnut?.requests?.successRate, 0, JSON.stringify(routes));

      const edges = await viz<EdgeRow[]>(['edges', 'deploy']);
      for (const [src, dst] of [
        ['web', 'emoji'],
        ['web', 'voting'],
        ['vote-bot', 'web'],
      ] as const) {
        const edge = edges.find((e) => e.src === src && e.dst === dst);
        assert.equal(edge?.secured, true, `${src} -> ${dst}: ${JSON.stringify(edges)}`);
      }
    } finally {
      await vote?.stop();
      demo.interrupt();
    }
    assert.equal(await demo.exited, 0, demo.output.err);
    assert.match(demo.output.out, /on loopback \(no pods: interception is off\)/);
    const gone = await weft([
      'get',
      'workloads',
      '-A',
      '--control-plane',
      controlPlane ?? '',
      '--state-dir',
      stateDir,
    ]);
    assert.equal(gone.code, 1, 'the control plane is gone');
  });
});

describe('weft demo flags', () => {
  test('--pods with --loopback (or --sample) is a usage error', async () => {
    for (const other of ['--loopback', '--sample']) {
      const r = await weft(['demo', '--pods', other]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr, `weft: --pods and ${other} cannot be combined\n`);
    }
  });
});
