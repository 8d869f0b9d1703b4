/**
 * `weft run` and `weft logs` against a real `weft up` (as root): workloads run as pods,
 * a one-off job calls a Service by name over mutual TLS and finishes, and stopping
 * `weft up` takes every pod, namespace, bridge and process away. Needs root: see
 * test/helpers/netns.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { identityName } from '../../src/identity/names.js';
import {
  type ControlPlaneHandle,
  serviceYaml,
  startControlPlane,
  weft,
  weftOk,
} from '../helpers/controlplane.js';
import { waitFor } from '../helpers/net.js';
import { requirePrivileged } from '../helpers/netns.js';

const T = { timeout: 120_000 };
const BRIDGE = `wtr${process.pid % 10000}`;

const SERVER =
  "require('node:http').createServer((q, s) => s.end(JSON.stringify({ clientId: q.headers['weft-client-id'] ?? null }))).listen(8080, () => console.log('listening'))";
const JOB =
  "require('node:http').get('http://web/', (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => { console.log('answer ' + r.statusCode + ' ' + b); process.exit(r.statusCode === 200 ? 0 : 1); }); }).on('error', (e) => { console.log('error ' + e.message); process.exit(1); })";

const weftNamespaces = (): string[] =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith('weft-'));

describe('weft run', () => {
  let cp: ControlPlaneHandle | undefined;
  after(async () => {
    await cp?.stop('SIGKILL');
    try {
      execFileSync('ip', ['link', 'del', BRIDGE], { stdio: 'ignore' });
    } catch {
      // Gone with weft up, as it should be.
    }
  });

  test('pods by command, a job over mTLS, logs, and a clean stop', T, async (t) => {
    if (!requirePrivileged(t, ['iptables-legacy'])) return;
    const before = weftNamespaces();
    cp = await startControlPlane({
      extraArgs: ['--pod-bridge', BRIDGE, '--pod-cidr', '10.203.0.0/16', '--service-cidr', '10.204.0.0/16'],
    });
    await weftOk(cp, ['apply', '-f', '-'], serviceYaml('web'));
    /** `weft run`: the control plane's flag goes before the command. */
    const run = async (args: string[], command: string[]): Promise<string> => {
      const r = await weft([
        'run',
        ...args,
        '--control-plane',
        (cp as ControlPlaneHandle).grpcAddr,
        '--',
        ...command,
      ]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    const ran = await run(['web'], [process.execPath, '-e', SERVER]);
    assert.match(ran, /^pod\/web-[0-9a-f]{5} running \(10\.203\.0\.\d+\)$/m);
    const control = cp;
    await waitFor(
      async () => (await weftOk(control, ['logs', 'web', '--app'])).includes('listening'),
      'the web pod to listen',
      15_000,
      200,
    );
    await run(['vote', '--restart', 'OnFailure'], [process.execPath, '-e', JOB]);
    let logs = '';
    await waitFor(
      async () => {
        logs = await weftOk(control, ['logs', 'vote']);
        return /app \| answer /.test(logs);
      },
      'the job to answer',
      20_000,
      200,
    );
    const answer = /app \| answer (\d+) (.*)$/m.exec(logs);
    assert.equal(answer?.[1], '200', logs);
    assert.deepEqual(JSON.parse(answer?.[2] ?? '{}'), { clientId: identityName('vote', 'default') });
    assert.match(logs, /weft-proxy \| .*"proxy ready"/, 'the proxy logs are there too');

    const bad = await weft(['run', 'bad_name', '--control-plane', cp.grpcAddr, '--', 'true']);
    // (exit 1: the control plane refused it)
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /workload "bad_name"/);
    const missing = await weft(['logs', 'nothing', '--control-plane', cp.grpcAddr]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no pod of default\/nothing runs here/);

    assert.equal(await cp.stop('SIGINT'), 0, cp.stderrLines.join('\n'));
    cp = undefined;
    assert.deepEqual(weftNamespaces(), before, 'no pod namespace is left');
    assert.ok(!existsSync(`/sys/class/net/${BRIDGE}`), 'the bridge is gone');
    const left = execFileSync('ps', ['-eo', 'uid,args'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => /^\s*(2102|1000)\s/.test(l));
    assert.deepEqual(left, [], 'no pod process is left');
  });
});
