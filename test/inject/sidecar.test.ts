/** The containers inject adds speak the proxy's and proxy-init's real settings. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { proxySettings } from '../../src/inject/annotations.js';
import { initContainer, proxyContainer } from '../../src/inject/sidecar.js';
import { PROXY_SETTINGS, resolveProxyConfig } from '../../src/proxy/config.js';
import { parseId, parsePort, parsePortList } from '../../src/proxy-init/config.js';
import { parseLogLevel } from '../../src/util/log.js';

const settings = proxySettings(
  new Map([
    ['config.weft.io/opaque-ports', '3306,5432-5433'],
    ['config.weft.io/skip-inbound-ports', '22,3000-3010'],
    ['config.weft.io/skip-outbound-ports', '25'],
    ['config.weft.io/proxy-uid', '2200'],
    ['config.weft.io/proxy-log-level', 'debug'],
  ]),
);
const opts = { image: 'ghcr.io/weft-mesh/weft:0.1.0', nativeSidecar: false };

type Env = Array<{ name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }>;

test("the proxy's environment is variables src/proxy/config.ts reads, with values it accepts", () => {
  const env = proxyContainer(settings, 'web', opts).env as Env;
  const known = new Set<string>([...Object.values(PROXY_SETTINGS).map((s) => s[1]), 'WEFT_PROXY_LOG']);
  for (const e of env) assert.ok(known.has(e.name), `${e.name} is not a proxy setting`);
  // What the downward API would give.
  const pod: Record<string, string> = {
    'metadata.namespace': 'emojivoto',
    'metadata.name': 'web-5d9f8c7b6-x2x7q',
    'spec.serviceAccountName': 'web',
  };
  const vars = Object.fromEntries(
    env.map((e) => [e.name, e.value ?? pod[e.valueFrom?.fieldRef.fieldPath ?? ''] ?? '']),
  );
  const config = resolveProxyConfig({}, vars);
  assert.deepEqual(config.inboundAddr, { host: '0.0.0.0', port: 4143 });
  assert.deepEqual(config.outboundAddr, { host: '127.0.0.1', port: 4140 });
  assert.deepEqual(config.adminAddr, { host: '0.0.0.0', port: 4191 });
  assert.equal(config.transparent, true);
  assert.deepEqual(config.destination, { host: 'weft-destination.weft.svc.cluster.local.', port: 8086 });
  assert.deepEqual([...config.opaquePorts], [3306, 5432, 5433]);
  assert.equal(config.identity.workload, 'web');
  assert.equal(config.identity.namespace, 'emojivoto');
  assert.equal(config.identity.pod, 'web-5d9f8c7b6-x2x7q');
  assert.equal(config.identity.serviceAccount, 'web');
  assert.equal(parseLogLevel(vars.WEFT_PROXY_LOG, 'WEFT_PROXY_LOG'), 'debug');
});

test('the proxy runs as the UID that weft-init exempts, not as root', () => {
  const proxy = proxyContainer(settings, 'web', opts);
  const init = initContainer(settings, opts);
  const args = init.args as string[];
  const uid = args[args.indexOf('--proxy-uid') + 1] as string;
  assert.equal((proxy.securityContext as { runAsUser: number }).runAsUser, Number(uid));
  assert.equal((proxy.securityContext as { runAsNonRoot: boolean }).runAsNonRoot, true);
  assert.equal(uid, '2200');
});

test("weft-init's arguments are flags weft init takes, with values it accepts", () => {
  const args = initContainer(settings, opts).args as string[];
  assert.equal(args[0], 'init');
  const flags = Object.fromEntries(
    args.slice(1).flatMap((a, i, all) => (a.startsWith('--') ? [[a, all[i + 1] as string]] : [])),
  );
  assert.equal(parsePort(flags['--incoming-proxy-port'] as string, 'in'), 4143);
  assert.equal(parsePort(flags['--outgoing-proxy-port'] as string, 'out'), 4140);
  assert.equal(parseId(flags['--proxy-uid'] as string, 'uid'), 2200);
  assert.deepEqual(
    parsePortList(flags['--inbound-ports-to-ignore'] as string, 'in').map((p) => p.text),
    ['4190', '4191', '4567', '4568', '22', '3000-3010'],
  );
  assert.deepEqual(
    parsePortList(flags['--outbound-ports-to-ignore'] as string, 'out').map((p) => p.text),
    ['4567', '4568', '25'],
  );
});

test('probes and ports point at the admin and inbound listeners', () => {
  const proxy = proxyContainer(settings, 'web', opts);
  assert.deepEqual(proxy.ports, [
    { containerPort: 4143, name: 'weft-proxy' },
    { containerPort: 4191, name: 'weft-admin' },
  ]);
  assert.deepEqual((proxy.readinessProbe as { httpGet: unknown }).httpGet, { path: '/ready', port: 4191 });
  assert.deepEqual((proxy.livenessProbe as { httpGet: unknown }).httpGet, { path: '/live', port: 4191 });
  assert.equal(proxy.startupProbe, undefined);
  const native = proxyContainer(settings, 'web', { ...opts, nativeSidecar: true });
  assert.equal(native.restartPolicy, 'Always');
  assert.deepEqual((native.startupProbe as { httpGet: unknown }).httpGet, { path: '/ready', port: 4191 });
});
