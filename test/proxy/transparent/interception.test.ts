/**
 * @host-network: it adds and removes links on this host, so it runs alone (scripts/run-tests.js).
 * The proxy in transparent mode behind `weft init`, in a real "pod" network namespace:
 * the application and its peer are unaware of the proxy, and the proxy's metrics show it
 * carried each connection. Needs root: see test/helpers/netns.ts.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { weft } from '../../helpers/controlplane.js';
import { link, Netns, requirePrivileged } from '../../helpers/netns.js';
import { parseProm, sumSamples } from '../../helpers/prom.js';
import { WEFT_BIN } from '../../helpers/proxy.js';

const T = { timeout: 60_000 };
const APP_UID = 1000;
const PROXY_UID = 2102;

describe('transparent mode', () => {
  const spaces: Netns[] = [];
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) c.kill('SIGKILL');
    for (const ns of spaces) ns.delete();
  });

  test('inbound and outbound connections go through the proxy to where they were going', T, async (t) => {
    if (!requirePrivileged(t, ['iptables-legacy'])) return;
    const pod = Netns.create(`wto${process.pid % 100000}`);
    const peer = Netns.create(`wtp${process.pid % 100000}`);
    spaces.push(pod, peer);
    const { aAddr: podIp, bAddr: peerIp } = link(pod, peer, '10.231.74');
    children.push(
      await pod.serve('0.0.0.0', 8080, 'app', 'http'),
      await pod.serve('127.0.0.1', 9000, '', 'echo'),
      await peer.serve(peerIp, 80, 'peer', 'http'),
    );
    const init = await weft(['init', '--netns', pod.path]);
    assert.equal(init.code, 0, init.stderr);

    // The proxy, as its own user, as the sidecar of the pod.
    const proxy = pod.spawn(
      [
        process.execPath,
        WEFT_BIN,
        'proxy',
        '--transparent',
        '--inbound-addr',
        '0.0.0.0:4143',
        '--outbound-addr',
        '127.0.0.1:4140',
        '--admin-addr',
        '0.0.0.0:4191',
        '--inbound-forward',
        '127.0.0.1:8080',
      ],
      PROXY_UID,
    );
    children.push(proxy);
    let log = '';
    await new Promise<void>((resolve, reject) => {
      proxy.stdout?.setEncoding('utf8').on('data', (d: string) => {
        log += d;
        if (log.includes('"proxy ready"')) resolve();
      });
      proxy.stderr?.setEncoding('utf8').on('data', (d: string) => (log += d));
      proxy.once('exit', (code) => reject(new Error(`the proxy exited ${code}\n${log}`)));
    });
    assert.match(log, /transparent mode/);

    // Inbound HTTP: the peer asks the pod's address; the application answers.
    assert.equal(await peer.get(`http://${podIp}:8080/`), `200 app ${podIp}:8080`);
    // Inbound opaque TCP: bytes that are not HTTP reach the application's port on loopback.
    assert.equal(await peer.connect(podIp, 9000, undefined, 'not http, just bytes'), 'not http, just bytes');
    // Straight to the proxy's inbound port, plaintext: refused (meshed peers come so only
    // over mutual TLS), so it cannot reach the application around interception.
    assert.match(await peer.get(`http://${podIp}:4143/`), /^error/);
    assert.match(await peer.connect(podIp, 4143, undefined, 'raw bytes'), /^error/);
    // Outbound: the application calls the peer's address; the peer answers.
    assert.equal(await pod.get(`http://${peerIp}/hello`, APP_UID), `200 peer ${peerIp}`);

    const metrics = parseProm((await pod.get('http://127.0.0.1:4191/metrics')).replace(/^200 /, ''));
    assert.equal(
      sumSamples(metrics, 'request_total', { direction: 'inbound', authority: `${podIp}:8080` }),
      1,
    );
    assert.equal(sumSamples(metrics, 'request_total', { direction: 'outbound', authority: peerIp }), 1);
    assert.equal(sumSamples(metrics, 'response_total', { direction: 'outbound', status_code: '200' }), 1);
    assert.equal(
      sumSamples(metrics, 'tcp_refused_total', { direction: 'inbound', reason: 'direct_not_mtls' }),
      2,
      'both direct plaintext connections were refused and counted',
    );
    assert.ok(
      sumSamples(metrics, 'tcp_open_total', { direction: 'inbound', peer: 'src' }) >= 2,
      'the inbound listener took the HTTP and the opaque connection',
    );
  });
});
