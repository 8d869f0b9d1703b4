/**
 * @host-network: it adds and removes links on this host, so it runs alone (scripts/run-tests.js).
 * Pods on one host, for real (the runtime directly, then `weft run` through `weft up`; one
 * file, so that the two never run at once): a bridge, a network namespace per pod, proxy-init's rules,
 * the proxy as uid 2102 and the application as uid 1000, with `weft up` reached on the
 * bridge's gateway. The applications know nothing of the mesh: a one-off job calls a
 * Service by name, and the answer says the call came over mutual TLS from the job's
 * identity. Needs root: see test/helpers/netns.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { controlPlaneClient, unary } from '../../src/grpc/client.js';
import type { LeaseMessage, WorkloadMessage } from '../../src/grpc/protos.js';
import { identityName } from '../../src/identity/names.js';
import { PodNetwork } from '../../src/pods/network.js';
import { Pod, type PodRuntime } from '../../src/pods/pod.js';
import { handFileToProxy, handToProxy } from '../../src/pods/secrets.js';
import type { HostPort } from '../../src/util/addr.js';
import {
  type ControlPlaneHandle,
  controlPlaneArgs,
  makeTempDir,
  ownerArgs,
  ownerToken,
  ownerTokenFile,
  serviceYaml,
  startControlPlane,
  weft,
  weftOk,
} from '../helpers/controlplane.js';
import { waitFor } from '../helpers/net.js';
import { requirePrivileged } from '../helpers/netns.js';
import {
  nodeDeploymentYaml,
  pathWithoutIptables,
  startDemoProcess,
  stopWithPods,
  waitForLogs,
  weftRun,
} from '../helpers/pods.js';
import { findSamples, parseProm, sumSamples } from '../helpers/prom.js';
import { startWeft, WEFT_BIN } from '../helpers/proxy.js';

const T = { timeout: 90_000 };

const SERVER = `
const http = require('node:http');
http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ clientId: req.headers['weft-client-id'] ?? null, uid: process.getuid() }));
}).listen(8080, '0.0.0.0', () => console.log('listening'));
`;

const JOB = `
const http = require('node:http');
http.get('http://web.default.svc.cluster.local/', (res) => {
  let body = '';
  res.on('data', (d) => (body += d));
  res.on('end', () => { console.log('answer ' + res.statusCode + ' ' + body); process.exit(res.statusCode === 200 ? 0 : 1); });
}).on('error', (e) => { console.log('error ' + e.message); process.exit(1); });
`;

/** Whether a process is still there. */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const namespaces = (): string[] =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith('weft-'));

/** The host ends of pods' veth pairs. */
const podLinks = (): string[] =>
  execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\d+: (wv[0-9a-f]{10})@/.exec(l)?.[1] ?? '')
    .filter((n) => n !== '');

/** Pod veths that were not there `before`. */
const newLinks = (before: string[]): string[] => podLinks().filter((l) => !before.includes(l));

describe('pods on one host', () => {
  const pods: Pod[] = [];
  let network: PodNetwork | undefined;
  let cp: ControlPlaneHandle | undefined;
  after(async () => {
    for (const p of pods) await p.stop();
    await network?.destroy();
    await cp?.stop('SIGKILL');
  });

  test(
    'a job calls a Service by name over mutual TLS, finishes, and teardown leaves nothing',
    T,
    async (t) => {
      if (!requirePrivileged(t, ['iptables-legacy'])) return;
      network = await PodNetwork.create({
        bridge: `wtb${process.pid % 10000}`,
        podCidr: '10.201.0.0/16',
        serviceCidr: '10.202.0.0/16',
      });
      const gw = network.gateway;
      const secrets = makeTempDir('weft-pod-secrets-');
      chmodSync(secrets, 0o711);
      cp = await startControlPlane({ addr: `${gw}:0`, extraArgs: ['--identity-addr', `${gw}:0`] });
      await weftOk(cp, ['apply', '-f', '-'], serviceYaml('web'));
      const runtime: PodRuntime = {
        network,
        controlPlane: cp.grpcAddr,
        // The test stands in for weft up's pods manager: its pods register as the owner.
        controlPlaneTokenFile: handFileToProxy(join(secrets, 'owner'), ownerTokenFile(cp), 'token'),
        weftBin: WEFT_BIN,
        hosts: [['10.202.0.10', ['web.default.svc.cluster.local', 'web.default', 'web']]],
        identity: async (spec, ip) => {
          // As the platform does (Kubernetes mounts the token): register the pod as starting,
          // then give its proxy's user a copy of the token and the anchors the Lease names.
          const registry = controlPlaneClient('registry', cp?.grpc as HostPort, cp && ownerToken(cp));
          try {
            const lease = await unary<WorkloadMessage, LeaseMessage>(
              registry,
              'register',
              {
                namespace: spec.namespace,
                name: spec.workload,
                pod: spec.name,
                serviceAccount: spec.serviceAccount,
                labels: { ...spec.labels },
                address: ip,
                port: 0,
                namedPorts: {},
                starting: true,
              },
              5000,
            );
            return handToProxy(join(secrets, spec.name), {
              tokenFile: lease.identity?.tokenFile as string,
              trustAnchorsFile: lease.identity?.trustAnchorsFile as string,
            });
          } finally {
            registry.close();
          }
        },
      };
      const web = new Pod(
        {
          namespace: 'default',
          name: 'web-1',
          workload: 'web',
          serviceAccount: 'web',
          labels: { app: 'web' },
          command: [process.execPath, '-e', SERVER],
          gracePeriodMs: 3000,
        },
        runtime,
      );
      pods.push(web);
      await web.start();
      await waitFor(() => web.logs.app.lines.includes('listening'), 'the web application to listen');

      const job = new Pod(
        {
          namespace: 'default',
          name: 'vote-1',
          workload: 'vote',
          serviceAccount: 'vote',
          labels: { app: 'vote' },
          command: [process.execPath, '-e', JOB],
          gracePeriodMs: 3000,
          restartPolicy: 'OnFailure',
        },
        runtime,
      );
      pods.push(job);
      const finished = new Promise<unknown>((resolve) => job.once('finished', resolve));
      await job.start();
      assert.equal(
        await finished,
        0,
        `the job's log:\n${job.logs.app.lines.join('\n')}\n${job.logs.proxy.lines.join('\n')}`,
      );
      assert.equal(job.phase, 'Succeeded');
      const answer = job.logs.app.lines.find((l) => l.startsWith('answer '));
      assert.ok(answer, job.logs.app.lines.join('\n'));
      const body = JSON.parse(answer.replace(/^answer 200 /, '')) as { clientId: string; uid: number };
      assert.equal(body.clientId, identityName('vote', 'default'), 'the call came over mTLS from the job');
      assert.equal(body.uid, 1000, 'the application runs as its own user');
      assert.equal(job.restarts, 0);
      assert.ok(
        job.logs.proxy.lines.some((l) => l.includes('"msg":"shutting down"') || l.includes('drain')),
        `the job's proxy drained when the job ended:\n${job.logs.proxy.lines.slice(-5).join('\n')}`,
      );

      // A crashing application is restarted, with backoff.
      const crash = new Pod(
        {
          namespace: 'default',
          name: 'crash-1',
          workload: 'crash',
          serviceAccount: 'crash',
          labels: { app: 'crash' },
          command: [process.execPath, '-e', 'process.exit(3)'],
          gracePeriodMs: 3000,
        },
        runtime,
      );
      pods.push(crash);
      await crash.start();
      await waitFor(() => crash.restarts >= 1, 'a restart of the crashing application', 10_000);
      assert.equal(crash.phase, 'Running');

      // Teardown: no namespace, hosts file, bridge or process is left.
      const netnsNames = pods.map((p) => p.netns);
      const pids = pods.flatMap((p) => p.pids);
      assert.ok(pids.length >= 3, 'the pods run processes');
      for (const p of pods.splice(0)) await p.stop();
      await network.destroy();
      network = undefined;
      for (const name of netnsNames) {
        assert.ok(!namespaces().includes(name), `namespace ${name} removed`);
        assert.ok(!existsSync(`/etc/netns/${name}`), `hosts of ${name} removed`);
      }
      assert.ok(!existsSync(`/sys/class/net/wtb${process.pid % 10000}`), 'the bridge is gone');
      assert.deepEqual(pids.filter(alive), [], 'no pod process is left');
    },
  );
});

const BRIDGE = `wtr${process.pid % 10000}`;

const SHORT_SERVER =
  "require('node:http').createServer((q, s) => s.end(JSON.stringify({ clientId: q.headers['weft-client-id'] ?? null }))).listen(8080, () => console.log('listening'))";
const SHORT_JOB =
  "require('node:http').get('http://web/', (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => { console.log('answer ' + r.statusCode + ' ' + b); process.exit(r.statusCode === 200 ? 0 : 1); }); }).on('error', (e) => { console.log('error ' + e.message); process.exit(1); })";

describe('weft run', () => {
  let cp: ControlPlaneHandle | undefined;
  after(() => stopWithPods(cp, BRIDGE));

  test('pods by command, a job over mTLS, logs, and a clean stop', T, async (t) => {
    if (!requirePrivileged(t, ['iptables-legacy'])) return;
    const before = namespaces();
    const linksBefore = podLinks();
    cp = await startControlPlane({
      extraArgs: ['--pod-bridge', BRIDGE, '--pod-cidr', '10.203.0.0/16', '--service-cidr', '10.204.0.0/16'],
    });
    await weftOk(cp, ['apply', '-f', '-'], serviceYaml('web'));
    const ran = await weftRun(cp, ['web'], [process.execPath, '-e', SHORT_SERVER]);
    assert.match(ran, /^pod\/web-[0-9a-f]{5} running \(10\.203\.0\.\d+\)$/m);
    await waitForLogs(cp, 'web', /listening/, 'the web pod to listen', { flags: ['--app'] });
    await weftRun(cp, ['vote', '--restart', 'OnFailure'], [process.execPath, '-e', SHORT_JOB]);
    const logs = await waitForLogs(cp, 'vote', /app \| answer /, 'the job to answer');
    const answer = /app \| answer (\d+) (.*)$/m.exec(logs);
    assert.equal(answer?.[1], '200', logs);
    assert.deepEqual(JSON.parse(answer?.[2] ?? '{}'), { clientId: identityName('vote', 'default') });
    assert.match(logs, /weft-proxy \| .*"proxy ready"/, 'the proxy logs are there too');

    const bad = await weft(['run', 'bad_name', ...ownerArgs(cp), '--', 'true']);
    // (exit 1: the control plane refused it)
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /workload "bad_name"/);
    const missing = await weft(['logs', 'nothing', ...ownerArgs(cp)]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no pod of default\/nothing runs here/);

    const ours = namespaces().filter((n) => !before.includes(n));
    assert.equal(ours.length, 2, 'one namespace per pod');
    const pids = ours.flatMap((n) =>
      execFileSync('ip', ['netns', 'pids', n], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number),
    );
    assert.ok(pids.length >= 2, `the web pod runs its proxy and app: ${pids.join(' ')}`);
    assert.equal(await cp.stop('SIGINT'), 0, cp.stderrLines.join('\n'));
    cp = undefined;
    assert.deepEqual(namespaces(), before, 'no pod namespace is left');
    assert.deepEqual(newLinks(linksBefore), [], 'no pod veth is left');
    assert.ok(!existsSync(`/sys/class/net/${BRIDGE}`), 'the bridge is gone');
    assert.deepEqual(pids.filter(alive), [], 'no pod process is left');
  });
});

const DEPLOY_BRIDGE = `wta${process.pid % 10000}`;

/** A TCP echo server (not HTTP: the mesh carries it as opaque TCP). */
const ECHO_JS = `require('node:net').createServer((s) => s.pipe(s)).listen(Number(process.env.PORT), () => console.log('listening'));\n`;
/** Calls the echo Service by name every 300 ms and prints what came back. */
const CALLER_JS = `const net = require('node:net');
let n = 0;
setInterval(() => {
  const s = net.connect(7000, 'echo', () => s.end('ping ' + ++n));
  let got = '';
  s.on('data', (d) => (got += d));
  s.on('end', () => console.log('echoed ' + got));
  s.on('error', (e) => console.log('error ' + e.message));
}, 300);
`;

function deploymentYaml(
  name: string,
  program: string,
  opts: { replicas?: number; env?: string } = {},
): string {
  return nodeDeploymentYaml(name, program, {
    ...(opts.replicas ? { replicas: opts.replicas } : {}),
    port: 7000,
    portName: 'echo',
    env: { PORT: '7000', VERSION: opts.env ?? 'one' },
  });
}

const ECHO_SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: echo
spec:
  selector:
    app: echo
  ports:
    - port: 7000
      targetPort: echo
`;

describe('weft up without iptables on PATH', () => {
  test("a pod is refused naming the package, before the pods' network is made", T, async (t) => {
    if (!requirePrivileged(t)) return;
    const bridge = `wi17u${process.pid % 10000}`;
    const upState = makeTempDir('weft-state-');
    const up = await startWeft(
      [
        ...controlPlaneArgs(upState),
        '--pod-bridge',
        bridge,
        '--pod-cidr',
        '10.227.0.0/16',
        '--service-cidr',
        '10.228.0.0/16',
      ],
      'control plane ready',
      'SIGINT',
      { PATH: pathWithoutIptables() },
    );
    try {
      const ran = await weft([
        'run',
        'web',
        ...ownerArgs({ grpcAddr: String(up.ready.grpc), stateDir: upState }),
        '--',
        'true',
      ]);
      assert.equal(ran.code, 1, ran.stderr);
      assert.match(
        ran.stderr,
        /pods need iptables-legacy-save and iptables-legacy-restore, which are not on PATH \(Debian: apt-get install iptables\): install them, or run weft up with --pod-mode loopback\n$/,
      );
      assert.ok(!existsSync(`/sys/class/net/${bridge}`), 'no bridge was made');
    } finally {
      assert.equal(await up.stop('SIGINT'), 0);
    }
  });
});

describe('weft apply of Deployments', () => {
  let cp: ControlPlaneHandle | undefined;
  after(() => stopWithPods(cp, DEPLOY_BRIDGE));

  test("pods from manifests: opaque TCP to a Service's cluster IP over mTLS, scaling, rollout, delete, restart", {
    timeout: 150_000,
  }, async (t) => {
    if (!requirePrivileged(t, ['iptables-legacy'])) return;
    const before = namespaces();
    const linksBefore = podLinks();
    const dir = makeTempDir('weft-deploy-');
    // The applications run as uid 1000 from the manifest's directory.
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'echo.js'), ECHO_JS);
    writeFileSync(join(dir, 'caller.js'), CALLER_JS);
    const manifest = (name: string, text: string): string => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    };
    const app = manifest(
      'app.yaml',
      `${ECHO_SERVICE}---\n${deploymentYaml('echo', 'echo.js')}---\n${deploymentYaml('caller', 'caller.js')}`,
    );
    const state = makeTempDir('weft-deploy-state-');
    const args = [
      '--pod-bridge',
      DEPLOY_BRIDGE,
      '--pod-cidr',
      '10.205.0.0/16',
      '--service-cidr',
      '10.206.0.0/16',
    ];
    cp = await startControlPlane({ stateDir: state, extraArgs: args });
    assert.equal(
      await weftOk(cp, ['apply', '-f', app]),
      'service/echo created\ndeployment/echo created\ndeployment/caller created\n',
    );
    const control = (): ControlPlaneHandle => cp as ControlPlaneHandle;
    type Listed = {
      pod: string;
      address: string;
      ready: boolean;
      labels: Record<string, string>;
      namedPorts: Record<string, number>;
    };
    const workloads = async (name: string): Promise<Listed[]> => {
      const out = await weft(['get', 'workloads', '-o', 'json', ...ownerArgs(control())]);
      const items =
        out.code === 0
          ? (JSON.parse(out.stdout) as { items: Array<Listed & { workload: string }> }).items
          : [];
      return items.filter((w) => w.workload === name);
    };
    const readyPods = async (name: string, n: number, not: string[] = []): Promise<Listed[]> => {
      let found: Listed[] = [];
      await waitFor(
        async () => {
          found = (await workloads(name)).filter((w) => w.ready && !not.includes(w.pod));
          return found.length === n;
        },
        `${n} ready pods of ${name}`,
        30_000,
        200,
      );
      return found;
    };
    const [echo] = await readyPods('echo', 1);
    assert.ok(echo);
    assert.deepEqual(echo.namedPorts, { echo: 7000 }, 'the container port names reach the catalog');
    assert.match(echo.labels['pod-template-hash'] ?? '', /^[0-9a-f]{10}$/);
    await waitForLogs(control(), 'caller', /echoed ping \d+/, 'the caller to get an echo', {
      flags: ['--app'],
      timeoutMs: 30_000,
    });
    // The echo went through both proxies over mutual TLS: the server's proxy saw the caller's identity.
    const clientId = identityName('caller', 'default');
    let metrics = '';
    await waitFor(
      async () => {
        metrics = await (await fetch(`http://${echo.address}:4191/metrics`)).text();
        return (
          sumSamples(parseProm(metrics), 'tcp_open_total', { direction: 'inbound', client_id: clientId }) > 0
        );
      },
      'the echo pod to count a meshed connection from the caller',
      10_000,
      200,
    );
    const svc = JSON.parse(await weftOk(cp, ['get', 'svc', 'echo', '-o', 'json'])) as {
      spec: { clusterIP: string };
    };
    assert.match(svc.spec.clusterIP, /^10\.206\.\d+\.\d+$/);
    assert.match(await weftOk(cp, ['get', 'deploy']), /^echo\s+1\/1\s+1\s+\d+s$/m);

    // Pods of a Deployment change only through it.
    const byHand = await weft(['run', 'echo', ...ownerArgs(cp), '--', 'true']);
    assert.equal(byHand.code, 1);
    assert.match(byHand.stderr, /default\/echo is a Deployment: change it with weft apply/);

    // Scale up: the pod that runs stays, one more starts.
    manifest('echo.yaml', deploymentYaml('echo', 'echo.js', { replicas: 2 }));
    assert.equal(await weftOk(cp, ['apply', '-f', join(dir, 'echo.yaml')]), 'deployment/echo configured\n');
    const two = await readyPods('echo', 2);
    assert.ok(
      two.some((p) => p.pod === echo.pod),
      'scaling keeps the running pod',
    );
    // A new template: new pods replace the old ones.
    manifest('echo.yaml', deploymentYaml('echo', 'echo.js', { replicas: 2, env: 'two' }));
    await weftOk(cp, ['apply', '-f', join(dir, 'echo.yaml')]);
    const old = two.map((p) => p.pod);
    await waitFor(
      async () => {
        const now = await workloads('echo');
        return now.length === 2 && now.every((w) => w.ready && !old.includes(w.pod));
      },
      'the rollout to replace both pods',
      40_000,
      200,
    );

    // weft up starts its Deployments' pods again after a restart.
    const rolled = (await workloads('echo')).map((w) => w.pod);
    assert.equal(await cp.stop('SIGINT'), 0, cp.stderrLines.join('\n'));
    assert.deepEqual(namespaces(), before, 'no pod namespace is left after a stop');
    cp = await startControlPlane({ stateDir: state, extraArgs: args });
    await readyPods('echo', 2, rolled);
    await readyPods('caller', 1);

    // Deleting the Deployments takes their pods away.
    assert.equal(
      await weftOk(cp, ['delete', '-f', app]),
      'service "echo" deleted\ndeployment "echo" deleted\ndeployment "caller" deleted\n',
    );
    await waitFor(
      async () => (await workloads('echo')).length + (await workloads('caller')).length === 0,
      'the pods to be gone',
      20_000,
      200,
    );
    // A pod leaves the catalog when its proxy exits; its network goes just after.
    await waitFor(
      () => isDeepStrictEqual(namespaces(), before) && newLinks(linksBefore).length === 0,
      "the pods' namespaces and veths to be gone",
      10_000,
      100,
    );
    assert.equal(await cp.stop('SIGINT'), 0, cp.stderrLines.join('\n'));
    cp = undefined;
    assert.deepEqual(namespaces(), before);
    assert.ok(!existsSync(`/sys/class/net/${DEPLOY_BRIDGE}`), 'the bridge is gone');
  });
});

describe('weft demo', () => {
  test('Ctrl-C while it starts takes weft up, the pods and their network away too', T, async (t) => {
    if (!requirePrivileged(t, ['iptables-legacy'])) return;
    const before = namespaces();
    const linksBefore = podLinks();
    const bridge = `wte${process.pid % 10000}`;
    const demo = startDemoProcess([
      '--pod-bridge',
      bridge,
      '--pod-cidr',
      '10.211.0.0/16',
      '--service-cidr',
      '10.212.0.0/16',
    ]);
    // weft up is up and has been asked for the pods: there is something to take away.
    await waitFor(
      () => demo.output.err.includes('waiting for the pods'),
      `the demo starting\n${demo.output.err}`,
      30_000,
      20,
    );
    demo.interrupt();
    assert.equal(await demo.exited, 0, demo.output.err);
    assert.match(demo.output.err, /stopped before it was up/);
    assert.doesNotMatch(demo.output.out, /Press Ctrl-C/);
    assert.deepEqual(namespaces(), before, 'no pod namespace is left');
    assert.deepEqual(newLinks(linksBefore), [], 'no pod veth is left');
    assert.ok(!existsSync(`/sys/class/net/${bridge}`), 'the bridge is gone');
  });

  test(
    'emojivoto runs meshed as pods: the bot votes over mTLS, the doughnut fails, Ctrl-C cleans up',
    T,
    async (t) => {
      if (!requirePrivileged(t, ['iptables-legacy'])) return;
      const before = namespaces();
      const linksBefore = podLinks();
      const bridge = `wtd${process.pid % 10000}`;
      const demo = startDemoProcess([
        '--pod-bridge',
        bridge,
        '--pod-cidr',
        '10.207.0.0/16',
        '--service-cidr',
        '10.208.0.0/16',
      ]);
      try {
        const out = await demo.guide(60_000);
        const web = /The voting page: +http:\/\/([\d.]+):8080\//.exec(out)?.[1];
        assert.ok(web, out);
        assert.equal((/^ {2}pod emojivoto\//gm[Symbol.match](out) ?? []).length, 4, out);
        const list = await fetch(`http://${web}:8080/api/list`);
        assert.equal(list.status, 200);
        assert.ok(((await list.json()) as unknown[]).length > 90, 'the emoji list');
        // The web pod's proxy: the bot's calls arrive over mTLS, and votes for the doughnut fail.
        let metrics = '';
        await waitFor(
          async () => {
            metrics = await (await fetch(`http://${web}:4191/metrics`)).text();
            const exp = parseProm(metrics);
            return (
              sumSamples(exp, 'request_total', {
                direction: 'inbound',
                tls: 'true',
                client_id: identityName('default', 'emojivoto'),
              }) > 0 &&
              sumSamples(exp, 'response_total', {
                direction: 'outbound',
                dst_service: 'voting-svc',
                classification: 'failure',
              }) > 0
            );
          },
          'the bot to vote, and a doughnut vote to fail',
          45_000,
          500,
        );
        const exp = parseProm(metrics);
        assert.ok(
          sumSamples(exp, 'response_total', {
            direction: 'outbound',
            tls: 'true',
            server_id: identityName('emoji', 'emojivoto'),
            classification: 'success',
          }) > 0,
          'web calls emoji over mTLS',
        );
        // The guide's profile for voting-svc: per-route metrics, the doughnut's votes as failures.
        const apply = /^Per-route metrics: +(weft profile .*)$/m.exec(out)?.[1];
        assert.ok(apply, out);
        execFileSync('sh', ['-c', apply.replaceAll('weft ', `${WEFT_BIN} `)], { stdio: 'pipe' });
        await waitFor(
          async () => {
            metrics = await (await fetch(`http://${web}:4191/metrics`)).text();
            const votes = findSamples(parseProm(metrics), 'route_response_total', { direction: 'outbound' });
            const by = (ok: (route: string) => boolean, classification: string): number =>
              votes.filter((v) => ok(v.labels.rt_route ?? '') && v.labels.classification === classification)
                .length;
            const doughnut = (r: string): boolean => r === 'VoteDoughnut';
            const otherVote = (r: string): boolean => r.startsWith('Vote') && r !== 'VoteDoughnut';
            return (
              by(doughnut, 'failure') > 0 && by(doughnut, 'success') === 0 && by(otherVote, 'success') > 0
            );
          },
          'per-route metrics for voting-svc: the doughnut fails, other votes succeed',
          45_000,
          500,
        );
      } finally {
        demo.interrupt();
      }
      assert.equal(await demo.exited, 0, demo.output.err);
      assert.deepEqual(namespaces(), before, 'no pod namespace is left');
      assert.deepEqual(newLinks(linksBefore), [], 'no pod veth is left');
      assert.ok(!existsSync(`/sys/class/net/${bridge}`), 'the bridge is gone');
    },
  );

  test(
    'without iptables on PATH: the loopback demo, saying why in one line; --pods exits 1 at once',
    T,
    async (t) => {
      if (!requirePrivileged(t)) return;
      const PATH = pathWithoutIptables();
      const net = [
        '--pod-bridge',
        `wi17p${process.pid % 10000}`,
        '--pod-cidr',
        '10.223.0.0/16',
        '--service-cidr',
        '10.224.0.0/16',
      ];
      const refused = startDemoProcess(['--pods', ...net], { PATH });
      assert.equal(await refused.exited, 1, refused.output.err);
      assert.equal(
        refused.output.err,
        'weft: demo --pods: pods need iptables-legacy-save and iptables-legacy-restore, which are not on PATH (Debian: apt-get install iptables); without --pods, weft demo runs on loopback ports\n',
      );
      assert.equal(refused.output.out, '');

      const demo = startDemoProcess(net, { PATH });
      try {
        const out = await demo.guide(45_000);
        assert.match(out, /emojivoto, meshed, on loopback/);
        assert.equal((/^ {2}pod emojivoto\/\S+ +127\.0\.0\.1$/gm[Symbol.match](out) ?? []).length, 4, out);
      } finally {
        demo.interrupt();
      }
      assert.equal(await demo.exited, 0, demo.output.err);
      const [why, next] = demo.output.err.split('\n');
      assert.equal(
        why,
        'weft demo: pods need iptables-legacy-save and iptables-legacy-restore, which are not on PATH (Debian: apt-get install iptables); running each application on a loopback port behind its proxy instead (interception is off: the applications call out through HTTP_PROXY and grpc_proxy)',
      );
      assert.equal(next, 'weft demo: starting the control plane (weft up)');
    },
  );

  test(
    "a pod that cannot start: the demo prints each pod's error from weft up's log and cleans up",
    T,
    async (t) => {
      if (!requirePrivileged(t, ['iptables-legacy'])) return;
      const before = namespaces();
      const linksBefore = podLinks();
      const bridge = `wi17f${process.pid % 10000}`;
      // iptables cannot open its lock file, so each pod's rules fail in iptables-legacy-restore.
      const demo = startDemoProcess(
        ['--pods', '--pod-bridge', bridge, '--pod-cidr', '10.225.0.0/16', '--service-cidr', '10.226.0.0/16'],
        { XTABLES_LOCKFILE: '/nonexistent/xtables.lock' },
      );
      assert.equal(await demo.exited, 1, demo.output.err);
      const err = demo.output.err;
      assert.match(err, /^weft: 4 of 4 pods did not start:$/m);
      for (const d of ['emoji', 'voting', 'web', 'vote-bot']) {
        assert.match(
          err,
          new RegExp(
            `^ {2}${d}: .*iptables-legacy-restore .*exited 4: Fatal: can't open lock file /nonexistent/xtables\\.lock`,
            'm',
          ),
        );
      }
      assert.match(err, /^weft demo --loopback runs the demo without pods\.$/m);
      assert.doesNotMatch(err, /see weft up's log/);
      assert.doesNotMatch(demo.output.out, /Press Ctrl-C/);
      assert.deepEqual(namespaces(), before, 'no pod namespace is left');
      assert.deepEqual(newLinks(linksBefore), [], 'no pod veth is left');
      assert.ok(!existsSync(`/sys/class/net/${bridge}`), 'the bridge is gone');
    },
  );
});
