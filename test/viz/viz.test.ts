/**
 * viz end to end on the embedded metrics: `weft up` scraping its registered proxies
 * every second, two replicas of `web` behind a Service, a meshed client sending a known
 * traffic (45 req/s that succeed and 5 req/s that fail: a 90% success rate at 50 req/s),
 * and `weft viz stat / routes / edges` read through the CLI, as an operator would.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { vizStream } from '../../src/viz/client.js';
import type { EdgeRow } from '../../src/viz/edges.js';
import type { RouteRow } from '../../src/viz/routes.js';
import type { StatRow } from '../../src/viz/stat.js';
import {
  type ControlPlaneHandle,
  Load,
  serviceYaml,
  startClientProxy,
  startControlPlane,
  startReplica,
  weft,
  weftOk,
} from '../helpers/controlplane.js';
import { Cleanup, waitFor } from '../helpers/net.js';
import { parseHostPort, WEFT_BIN } from '../helpers/proxy.js';
import { near, runStreaming as run, trafficWindow, vizJson } from '../helpers/viz.js';

const T = { timeout: 90_000 };
const ESC = '\x1b';
/** What top writes before each frame on a terminal: cursor home, clear screen. */
const CLEAR = `${ESC}[H${ESC}[2J`;
const OK_RATE = 45;
const FAIL_RATE = 5;
const RATE = OK_RATE + FAIL_RATE;
const SUCCESS = OK_RATE / RATE;
const WINDOW = '10s';

const PROFILE = `apiVersion: weft.io/v1alpha2
kind: ServiceProfile
metadata:
  name: web-svc.default.svc.cluster.local
  namespace: default
spec:
  routes:
    - name: home
      condition: {method: GET, pathRegex: /}
    - name: fail
      condition: {method: GET, pathRegex: /fail}
    - name: idle
      condition: {method: POST, pathRegex: /idle}
`;

describe('viz on the embedded metrics', () => {
  const cleanup = new Cleanup();
  let cp: ControlPlaneHandle;
  const loads: Load[] = [];

  const viz = <T>(args: string[]): Promise<T> => vizJson<T>(cp.vizAddr, args);
  const vizTable = async (args: string[]): Promise<string> => {
    const r = await weft(['viz', ...args, '--viz-addr', cp.vizAddr]);
    assert.equal(r.code, 0, `weft viz ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    cp = await startControlPlane({ extraArgs: ['--metrics-scrape-interval', '1s'], cleanup });
    await weftOk(
      cp,
      ['apply', '-f', '-'],
      [serviceYaml('web-svc', { selector: { app: 'web' } }), PROFILE].join('---\n'),
    );
    const respond = (req: { url?: string }, res: import('node:http').ServerResponse, name: string) => {
      const fail = req.url === '/fail';
      res.writeHead(fail ? 500 : 200, { 'x-replica': name });
      res.end(fail ? 'failed' : 'ok');
    };
    await Promise.all([
      startReplica(cp, { name: 'web-a', app: 'web', respond }, cleanup),
      startReplica(cp, { name: 'web-b', app: 'web', respond }, cleanup),
    ]);
    const client = await startClientProxy(cp, 'default', cleanup, 'client');
    loads.push(
      new Load(client.outbound, { authority: 'web-svc:80', rate: OK_RATE, concurrency: 8 }),
      // A client that leaves the port out: its routes are the same Service port's.
      new Load(client.outbound, { authority: 'web-svc', path: '/fail', rate: FAIL_RATE, concurrency: 2 }),
    );
    cleanup.add(() => Promise.all(loads.map((l) => l.stop())));
    await trafficWindow();
  });

  after(() => cleanup.run());

  test(
    'stat deploy: each deployment with its meshed pods, success rate, request rate, latency and connections',
    T,
    async () => {
      const rows = await viz<StatRow[]>(['stat', 'deploy', '-t', WINDOW]);
      const web = rows.find((r) => r.name === 'web');
      const client = rows.find((r) => r.name === 'client');
      assert.ok(web && client, JSON.stringify(rows));
      assert.deepEqual(web.meshed, { meshed: 2, total: 2 });
      assert.deepEqual(client.meshed, { meshed: 1, total: 1 });
      near(web.requests?.rps, RATE, 0.15, 'web rps');
      near(web.requests?.successRate, SUCCESS, 0.04, 'web success');
      const l = web.requests?.latencyMs;
      assert.ok(l && l.p50 !== null && l.p95 !== null && l.p99 !== null, JSON.stringify(l));
      assert.ok(l.p50 > 0 && l.p50 <= l.p95 && l.p95 <= l.p99, JSON.stringify(l));
      assert.ok((web.tcp?.openConnections ?? 0) >= 1, JSON.stringify(web.tcp));
      // The client receives nothing: it has no inbound traffic.
      assert.equal(client.requests, null);
      assert.equal(web.namespace, 'default');

      const table = await vizTable(['stat', 'deploy', '-t', WINDOW]);
      const [head, ...lines] = table.trim().split('\n');
      assert.match(
        head as string,
        /^NAME\s+MESHED\s+SUCCESS\s+RPS\s+LATENCY_P50\s+LATENCY_P95\s+LATENCY_P99\s+TCP_CONN$/,
      );
      const webLine = lines.find((x) => x.startsWith('web '));
      assert.match(
        webLine as string,
        /^web\s+2\/2\s+\d+\.\d\d%\s+\d+(\.\d)?rps\s+\S+ms\s+\S+ms\s+\S+ms\s+\d+$/,
      );
      const wide = await vizTable(['stat', 'deploy/web', '-A', '-o', 'wide', '-t', WINDOW]);
      assert.match(wide, /^NAMESPACE\s+NAME\s+MESHED.*TCP_CONN\s+READ_BYTES\/SEC\s+WRITE_BYTES\/SEC\n/);
      assert.match(wide, /\ndefault\s+web\s+2\/2\s.*B\/s\s+\S+B\/s\n$/);
    },
  );

  test('stat pods, namespaces, services and authorities add up to the same traffic', T, async () => {
    const pods = await viz<StatRow[]>(['stat', 'pods', '-t', WINDOW]);
    const webPods = pods.filter((r) => r.name.startsWith('web-'));
    assert.deepEqual(webPods.map((r) => r.name).sort(), ['web-a', 'web-b']);
    near(
      webPods.reduce((a, r) => a + (r.requests?.rps ?? 0), 0),
      RATE,
      0.15,
      'pods rps',
    );
    for (const p of webPods) assert.deepEqual(p.meshed, { meshed: 1, total: 1 });

    const [ns] = await viz<StatRow[]>(['stat', 'ns/default', '-t', WINDOW]);
    near(ns?.requests?.rps, RATE, 0.15, 'namespace rps');
    assert.deepEqual(ns?.meshed, { meshed: 3, total: 3 });

    const [svc] = await viz<StatRow[]>(['stat', 'svc/web-svc', '-t', WINDOW]);
    assert.equal(svc?.name, 'web-svc');
    near(svc?.requests?.rps, RATE, 0.15, 'service rps');
    near(svc?.requests?.successRate, SUCCESS, 0.04, 'service success');

    // The failing load names the Service without its port: two authorities, web-svc:80 and web-svc.
    const authorities = await viz<StatRow[]>(['stat', 'au', '-t', WINDOW]);
    const au = authorities.filter((r) => r.name === 'web-svc:80' || r.name === 'web-svc');
    assert.equal(au.length, 2, JSON.stringify(authorities));
    near(
      au.reduce((a, r) => a + (r.requests?.rps ?? 0), 0),
      RATE,
      0.15,
      'authorities rps',
    );
  });

  test('stat --from and --to read the same requests from the client side', T, async () => {
    const [from] = await viz<StatRow[]>(['stat', 'deploy/web', '--from', 'deploy/client', '-t', WINDOW]);
    near(from?.requests?.rps, RATE, 0.15, '--from rps');
    near(from?.requests?.successRate, SUCCESS, 0.04, '--from success');
    const [to] = await viz<StatRow[]>(['stat', 'deploy/client', '--to', 'svc/web-svc', '-t', WINDOW]);
    assert.equal(to?.name, 'client');
    near(to?.requests?.rps, RATE, 0.15, '--to rps');
    // Nothing goes from web to the client.
    const [none] = await viz<StatRow[]>(['stat', 'deploy/client', '--from', 'deploy/web', '-t', WINDOW]);
    assert.equal(none?.requests, null);
  });

  test('routes: each profile route with its own success rate, the idle one empty', T, async () => {
    const rows = await viz<RouteRow[]>(['routes', 'svc/web-svc', '-t', WINDOW]);
    const by = new Map(rows.map((r) => [r.route, r]));
    assert.deepEqual([...by.keys()], ['fail', 'home', 'idle', '[DEFAULT]'], JSON.stringify(rows));
    near(by.get('home')?.requests?.rps, OK_RATE, 0.15, 'home rps');
    assert.equal(by.get('home')?.requests?.successRate, 1);
    near(by.get('fail')?.requests?.rps, FAIL_RATE, 0.2, 'fail rps');
    assert.equal(by.get('fail')?.requests?.successRate, 0);
    assert.equal(by.get('idle')?.requests, null);
    assert.equal(by.get('fail')?.service, 'web-svc');

    const outbound = await viz<RouteRow[]>(['routes', 'deploy/client', '--to', 'svc/web-svc', '-t', WINDOW]);
    const home = outbound.find((r) => r.route === 'home');
    near(home?.requests?.rps, OK_RATE, 0.15, 'outbound home rps');
    near(
      outbound.find((r) => r.route === 'fail')?.requests?.rps,
      FAIL_RATE,
      0.2,
      'outbound fail rps (no port)',
    );
    near(home?.actual?.rps, OK_RATE, 0.15, 'outbound home actual rps');
    const actualLatency = home?.actual?.latencyMs;
    assert.ok(actualLatency && (actualLatency.p50 ?? 0) > 0, JSON.stringify(home?.actual));
    const table = await vizTable(['routes', 'svc/web-svc', '-t', WINDOW]);
    assert.match(table, /^ROUTE\s+SERVICE\s+SUCCESS\s+RPS\s+LATENCY_P50\s+LATENCY_P95\s+LATENCY_P99\n/);
    assert.match(table, /\nfail\s+web-svc\s+0\.00%\s/);
    assert.match(table, /\nidle\s+web-svc\s+-\s+-\s+-\s+-\s+-\n/);
  });

  test('edges: the client talks to web over mutual TLS, each side with its identity', T, async () => {
    const rows = await viz<EdgeRow[]>(['edges', 'deploy', '-t', WINDOW]);
    const edge = rows.find((r) => r.src === 'client' && r.dst === 'web');
    assert.ok(edge, JSON.stringify(rows));
    assert.equal(edge.secured, true);
    assert.equal(edge.clientId, 'client.default.serviceaccount.identity.weft.cluster.local');
    assert.equal(edge.serverId, 'default.default.serviceaccount.identity.weft.cluster.local');
    near(edge.rps, RATE, 0.15, 'edge rps');
    const table = await vizTable(['edges', 'deploy', '-t', WINDOW]);
    assert.match(table, /^SRC\s+DST\s+SRC_NS\s+DST_NS\s+SECURED\n/);
    assert.match(table, /\nclient\s+web\s+default\s+default\s+√\n/);
  });

  test('tap: live req, rsp and end lines for the requests that match, until Ctrl-C', T, async () => {
    const tap = run(WEFT_BIN, ['viz', 'tap', 'deploy/web', '--path', '/fail', '--viz-addr', cp.vizAddr]);
    try {
      await waitFor(
        () => (tap.out.match(/^end /gm) ?? []).length >= 3,
        `three ended requests\n${tap.err}`,
        15_000,
        50,
      );
    } finally {
      tap.proc.kill('SIGINT');
    }
    assert.equal(await tap.exited, 0, tap.err);
    const lines = tap.out.trim().split('\n');
    const addr = String.raw`\d+\.\d+\.\d+\.\d+:\d+`;
    const req = new RegExp(
      `^req id=\\d+:\\d+ proxy=in  src=${addr} dst=${addr} tls=true :method=GET :authority=web-svc :path=/fail$`,
    );
    const rsp = new RegExp(
      `^rsp id=\\d+:\\d+ proxy=in  src=${addr} dst=${addr} tls=true :status=500 latency=\\d+µs$`,
    );
    const end = new RegExp(
      `^end id=\\d+:\\d+ proxy=in  src=${addr} dst=${addr} tls=true duration=\\d+µs response-length=6B$`,
    );
    for (const line of lines) assert.ok(req.test(line) || rsp.test(line) || end.test(line), line);
    // Each end follows its request's req and rsp, under the same id.
    const firstEnd = lines.find((l) => l.startsWith('end ')) as string;
    const id = /id=(\S+)/.exec(firstEnd)?.[1];
    assert.deepEqual(
      lines.filter((l) => l.includes(`id=${id} `)).map((l) => l.slice(0, 3)),
      ['req', 'rsp', 'end'],
    );

    // Read by `head`, which leaves after two lines: tap ends quietly, exit 0.
    const piped = run('bash', [
      '-o',
      'pipefail',
      '-c',
      `${WEFT_BIN} viz tap deploy/web --viz-addr ${cp.vizAddr} | head -2`,
    ]);
    assert.equal(await piped.exited, 0, piped.err);
    assert.equal(piped.out.trim().split('\n').length, 2, piped.out);
    assert.equal(piped.err, '');

    // The client's outbound side, as JSON: the destination's labels and the server's identity.
    const out = run(WEFT_BIN, [
      'viz',
      'tap',
      'deploy/client',
      '--to',
      'svc/web-svc',
      '-o',
      'json',
      '--viz-addr',
      cp.vizAddr,
    ]);
    try {
      await waitFor(() => out.out.split('\n').length > 5, `outbound events\n${out.err}`, 15_000, 50);
    } finally {
      out.proc.kill('SIGINT');
    }
    assert.equal(await out.exited, 0, out.err);
    const events = out.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const e of events) {
      assert.equal(e.direction, 'outbound');
      assert.equal((e.dstLabels as Record<string, string>).dst_service, 'web-svc');
      assert.equal(e.pod, 'client-1');
    }
    assert.ok(
      events.some((e) => e.type === 'end' && (e.status === 200 || e.status === 500)),
      out.out,
    );
  });

  test('top: the busiest paths, redrawn in place on a terminal', T, async () => {
    // `script` gives the command a terminal; Ctrl-C is typed into it. It runs the command
    // through $SHELL -c, or /bin/sh when SHELL is unset (as under CI): dash forks rather than
    // exec, and the Ctrl-C would kill it too (script then exits 130), so exec replaces it.
    const top = run('script', [
      '-qfec',
      `exec ${WEFT_BIN} viz top deploy/web --viz-addr ${cp.vizAddr}`,
      '/dev/null',
    ]);
    const HEADER = /SOURCE\s+DESTINATION\s+METHOD\s+PATH\s+COUNT\s+BEST\s+WORST\s+LAST\s+SUCCESS_RATE/;
    const FAILING = /client\s+web-[ab]\s+GET\s+\/fail\s+\d+\s+\S+ms\s+\S+ms\s+\S+ms\s+0\.00%/;
    const SUCCEEDING = /client\s+web-[ab]\s+GET\s+\/\s+\d+\s+\S+ms\s+\S+ms\s+\S+ms\s+100\.00%/;
    // Complete frames only: each is followed by the next one's clear.
    const frames = (): string[] => top.out.split(CLEAR).slice(1, -1);
    const full = (f: string): boolean => HEADER.test(f) && FAILING.test(f) && SUCCEEDING.test(f);
    try {
      await waitFor(
        () => frames().length >= 3 && frames().some(full),
        `three frames, one with both paths\n${top.out}`,
        30_000,
        50,
      );
    } finally {
      top.proc.stdin?.write('\x03');
    }
    assert.equal(await top.exited, 0, `the exit status\n${top.out}\n${top.err}`);
    assert.ok(top.out.startsWith(`${ESC}[?1049h`), 'the alternate screen');
    // Leaving the alternate screen, top prints its last table where it stays on the terminal.
    const after = top.out.slice(top.out.lastIndexOf(`${ESC}[?1049l`));
    assert.ok(full(after), after);
  });

  test(
    'profile --tap: a ServiceProfile with a route per method and path the deployment received',
    T,
    async () => {
      const r = await weft([
        'viz',
        'profile',
        'web-svc',
        '--tap',
        'deploy/web',
        '--tap-duration',
        '2s',
        '--viz-addr',
        cp.vizAddr,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        /^apiVersion: weft\.io\/v1alpha2\nkind: ServiceProfile\nmetadata:\n {2}name: web-svc\.default\.svc\.cluster\.local\n {2}namespace: default\n/,
      );
      assert.match(r.stdout, / {2}- name: GET \/\n {4}condition:\n {6}method: GET\n {6}pathRegex: \/\n/);
      assert.match(
        r.stdout,
        / {2}- name: GET \/fail\n {4}condition:\n {6}method: GET\n {6}pathRegex: \/fail\n/,
      );
      // What it prints is a profile weft apply takes.
      await weftOk(cp, ['apply', '-f', '-', '--dry-run'], r.stdout);
    },
  );

  test('one watch stream follows several API paths, each answer tagged with its index', T, async () => {
    const addr = parseHostPort(cp.vizAddr, 'viz');
    const stat = '/api/stat?resource=deploy&namespace=default&window=10s';
    const edges = '/api/edges?resource=deploy&namespace=default&window=10s';
    const q = new URLSearchParams([
      ['path', stat],
      ['path', edges],
      ['every', '1s'],
    ]);
    const seen: Array<{ index: number; body: { rows: unknown[] } }> = [];
    const ac = new AbortController();
    await vizStream(
      addr,
      `/api/watch?${q}`,
      (event, data) => {
        if (event !== 'update') return;
        seen.push(data as (typeof seen)[number]);
        if (seen.length >= 4) ac.abort();
      },
      ac.signal,
    );
    assert.deepEqual(
      seen.map((e) => e.index),
      [0, 1, 0, 1],
    );
    const [first, second] = seen as [(typeof seen)[number], (typeof seen)[number]];
    assert.ok((first.body.rows as StatRow[]).some((r) => r.name === 'web'));
    assert.ok((second.body.rows as EdgeRow[]).some((r) => r.src === 'client'));
    const bad = await fetch(`http://${cp.vizAddr}/api/watch?path=${encodeURIComponent(stat)}&path=/metrics`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /"\/metrics" is not an API path/);
  });

  test('usage mistakes exit 2 and name what is wrong; an unreachable viz exits 1', T, async () => {
    const bad = await weft(['viz', 'stat', 'deployz', '--viz-addr', cp.vizAddr]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /"deployz" is not a resource kind/);
    const both = await weft([
      'viz',
      'stat',
      'deploy',
      '--from',
      'deploy/a',
      '--to',
      'svc/b',
      '--viz-addr',
      cp.vizAddr,
    ]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--from and --to cannot be combined/);
    const window = await weft(['viz', 'stat', 'deploy', '-t', '2h', '--viz-addr', cp.vizAddr]);
    assert.equal(window.code, 1);
    assert.match(window.stderr, /window: at most 900s/);
    const away = await weft(['viz', 'stat', 'deploy', '--viz-addr', '127.0.0.1:1']);
    assert.equal(away.code, 1);
    assert.match(away.stderr, /cannot reach viz at 127\.0\.0\.1:1/);
  });
});
