/**
 * Pods without root (`weft up --pod-mode loopback`, the mode weft up falls back to when it
 * cannot make network namespaces): each application on a loopback port behind its proxy,
 * calling out through it by HTTP_PROXY. The hop between the proxies is still mutual TLS.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { identityName } from '../../src/identity/names.js';
import {
  type ControlPlaneHandle,
  serviceYaml,
  startControlPlane,
  weft,
  weftOk,
} from '../helpers/controlplane.js';
import { refusedPort, waitFor } from '../helpers/net.js';

const T = { timeout: 60_000 };

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
    const run = async (args: string[], command: string[]): Promise<string> => {
      const r = await weft(['run', ...args, '--control-plane', control.grpcAddr, '--', ...command]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    assert.match(
      await run(['web', '--port', String(port)], [process.execPath, '-e', server]),
      /running \(127\.0\.0\.1\)/,
    );
    await waitFor(
      async () => (await weftOk(control, ['logs', 'web', '--app'])).includes('listening'),
      'the web application to listen',
      15_000,
      200,
    );
    await run(['vote', '--restart', 'OnFailure'], [process.execPath, '-e', JOB]);
    let logs = '';
    await waitFor(
      async () => {
        logs = await weftOk(control, ['logs', 'vote', '--app']);
        return logs.includes('answer ');
      },
      'the job to answer',
      20_000,
      200,
    );
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
