/**
 * @host-network: it adds and removes links on this host, so it runs alone (scripts/run-tests.js).
 * `weft init` in real network namespaces, with real iptables and real connections: a "pod"
 * namespace and a "peer" one joined by a veth pair. Listeners stand in for the proxy (4140,
 * 4143, 4191) and the application (8080), each answering with its name, so every
 * connection says where it landed. Needs root: see test/helpers/netns.ts.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { weft } from '../helpers/controlplane.js';
import { link, Netns, ORIGINAL_DST, privilegedUnavailable, requirePrivileged } from '../helpers/netns.js';

const T = { timeout: 60_000 };
const APP_UID = 1000;
const PROXY_UID = 2102;

describe('weft init intercepts a pod namespace', () => {
  const spaces: Netns[] = [];
  const servers: ChildProcess[] = [];
  after(() => {
    for (const s of servers) s.kill('SIGKILL');
    for (const ns of spaces) ns.delete();
  });

  /** A pod and a peer, linked, with the stand-in listeners; `mode` picks the iptables. */
  async function setUp(tag: string, third: number) {
    const pod = Netns.create(`wi${tag}${process.pid % 100000}`);
    const peer = Netns.create(`wj${tag}${process.pid % 100000}`);
    spaces.push(pod, peer);
    const { aAddr: podIp, bAddr: peerIp } = link(pod, peer, `10.231.${third}`);
    for (const [ns, host, port, banner] of [
      [pod, '0.0.0.0', 4140, 'outbound-proxy'],
      [pod, '0.0.0.0', 4143, 'inbound-proxy'],
      [pod, '0.0.0.0', 4191, 'proxy-admin'],
      [pod, '0.0.0.0', 8080, 'app'],
      [peer, peerIp, 80, 'peer-80'],
      [peer, peerIp, 4567, 'peer-4567'],
    ] as const) {
      servers.push(await ns.serve(host, port, banner));
    }
    return { pod, peer, podIp, peerIp };
  }

  const init = async (args: string[]) => {
    const r = await weft(['init', ...args]);
    assert.equal(r.code, 0, `weft init ${args.join(' ')}\n${r.stderr}`);
    return r;
  };
  /** The nat table, without packet counters. */
  const saved = (ns: Netns, mode = 'legacy') =>
    ns
      .run([`iptables-${mode}-save`, '-t', 'nat'])
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map((l) => l.replace(/\[\d+:\d+\]$/, '[-]'))
      .join('\n');

  test(
    'inbound and outbound TCP go to the proxy; its own, loopback and ignored ports do not',
    T,
    async (t) => {
      if (!requirePrivileged(t, ['iptables-legacy'])) return;
      const { pod, peer, podIp, peerIp } = await setUp('l', 71);
      // Before: everything goes where it is addressed.
      assert.equal(await pod.connect(peerIp, 80, APP_UID), 'peer-80');
      assert.equal(await peer.connect(podIp, 8080), 'app');

      const first = await init(['--netns', pod.path]);
      assert.match(first.stderr, /nat rules in place/);
      // Outbound: the application's connections reach the proxy's outbound listener...
      assert.equal(await pod.connect(peerIp, 80, APP_UID), 'outbound-proxy');
      // ...but not the proxy's own, nor ignored ports, nor loopback.
      assert.equal(await pod.connect(peerIp, 80, PROXY_UID), 'peer-80');
      assert.equal(await pod.connect(peerIp, 4567, APP_UID), 'peer-4567');
      assert.equal(await pod.connect('127.0.0.1', 8080, APP_UID), 'app');
      // Inbound: connections to the application reach the proxy's inbound listener, except
      // to the ignored ports (the proxy's admin port among them).
      assert.equal(await peer.connect(podIp, 8080), 'inbound-proxy');
      assert.equal(await peer.connect(podIp, 4191), 'proxy-admin');

      // Twice: nothing changes.
      const table = saved(pod);
      const second = await init(['--netns', pod.path]);
      assert.match(second.stderr, /already in place.*; nothing changed/);
      assert.equal(saved(pod), table);
      assert.equal(table.split('\n').filter((l) => l.includes('-j PROXY_INIT_REDIRECT')).length, 1);

      // Other settings replace the rules in one step: ignored subnets bypass the proxy inbound.
      await init(['--netns', pod.path, '--subnets-to-ignore', `${peerIp}/32`]);
      assert.equal(await peer.connect(podIp, 8080), 'app');
      assert.match(
        saved(pod),
        /-s 10\.231\.71\.1\/32 .*"proxy-init\/ignore-subnet-10\.231\.71\.1\/32" -j RETURN/,
      );
      assert.equal(await pod.connect(peerIp, 80, APP_UID), 'outbound-proxy');

      // --simulate changes nothing; --remove takes everything away, twice without error.
      const before = saved(pod);
      await init(['--netns', pod.path, '--simulate']);
      assert.equal(saved(pod), before);
      const removed = await init(['--netns', pod.path, '--remove']);
      assert.match(removed.stderr, /rules removed/);
      assert.doesNotMatch(saved(pod), /PROXY_INIT/);
      assert.equal(await pod.connect(peerIp, 80, APP_UID), 'peer-80');
      assert.equal(await peer.connect(podIp, 8080), 'app');
      const again = await init(['--netns', pod.path, '--remove']);
      assert.match(again.stderr, /no proxy-init rules to remove/);
    },
  );

  test('the nft backend: the same interception, and chosen inbound ports only', T, async (t) => {
    if (!requirePrivileged(t, ['iptables-nft'])) return;
    const { pod, peer, podIp, peerIp } = await setUp('n', 72);
    await init(['--netns', pod.path, '--iptables-mode', 'nft', '--ports-to-redirect', '8080']);
    assert.match(saved(pod, 'nft'), /proxy-init\/redirect-port-8080/);
    assert.equal(await pod.connect(peerIp, 80, APP_UID), 'outbound-proxy');
    assert.equal(await pod.connect(peerIp, 80, PROXY_UID), 'peer-80');
    assert.equal(await peer.connect(podIp, 8080), 'inbound-proxy');
    assert.equal(await peer.connect(podIp, 4143), 'inbound-proxy', 'the proxy port itself is reachable');
    await init(['--netns', pod.path, '--iptables-mode', 'nft', '--remove']);
    assert.doesNotMatch(saved(pod, 'nft'), /PROXY_INIT/);
  });

  test(
    "the listeners recover each redirected connection's original destination (SO_ORIGINAL_DST)",
    T,
    async (t) => {
      if (!requirePrivileged(t, ['iptables-legacy'])) return;
      const pod = Netns.create(`wio${process.pid % 100000}`);
      const peer = Netns.create(`wip${process.pid % 100000}`);
      spaces.push(pod, peer);
      const { aAddr: podIp, bAddr: peerIp } = link(pod, peer, '10.231.73');
      servers.push(
        await pod.serve('0.0.0.0', 4140, ORIGINAL_DST),
        await pod.serve('0.0.0.0', 4143, ORIGINAL_DST),
      );
      await init(['--netns', pod.path]);
      const out = JSON.parse(await pod.connect(peerIp, 80, APP_UID)) as unknown;
      assert.deepEqual(
        out,
        { address: peerIp, port: 80, family: 'IPv4' },
        'outbound: where the app was going',
      );
      const inbound = JSON.parse(await peer.connect(podIp, 8080)) as unknown;
      assert.deepEqual(
        inbound,
        { address: podIp, port: 8080, family: 'IPv4' },
        'inbound: the port the client asked for',
      );
      assert.equal(
        await pod.connect('127.0.0.1', 4140, APP_UID),
        'null',
        'a connection made straight to the proxy',
      );
    },
  );

  test('without root it says why, and fails under WEFT_REQUIRE_PRIVILEGED_TESTS=1', () => {
    // The reason the two tests above would give: none when they can run here.
    const why = privilegedUnavailable(['iptables-legacy', 'iptables-nft']);
    if (process.getuid?.() === 0 && why === undefined) return;
    assert.match(String(why), /needs/);
  });
});
