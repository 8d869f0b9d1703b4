import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseLabels, resolveProxyConfig } from '../../src/proxy/config.js';

const DEST = '127.0.0.1:8086';
const TOKEN = '/state/owner.token';

test('without --destination nothing is discovered or registered', () => {
  const c = resolveProxyConfig({}, {});
  assert.equal(c.destination, undefined);
  assert.ok(!('destination' in c));
  assert.deepEqual(c.identity, {
    workload: '',
    namespace: 'default',
    serviceAccount: 'default',
    pod: '',
    labels: {},
    namedPorts: {},
    advertise: { host: '127.0.0.1', port: 4143 },
  });
});

test('--named-port: repeated flags or comma-separated name=port, names checked as Kubernetes port names', () => {
  const named = (flag: string[] | undefined, env: Record<string, string> = {}) =>
    resolveProxyConfig(
      {
        destination: DEST,
        controlPlaneTokenFile: TOKEN,
        workload: 'web',
        ...(flag ? { namedPort: flag } : {}),
      },
      env,
    ).identity.namedPorts;
  assert.deepEqual(named(['grpc=8080', 'admin-http=9990']), { grpc: 8080, 'admin-http': 9990 });
  assert.deepEqual(named(undefined, { WEFT_PROXY_NAMED_PORTS: 'http=80, ,metrics=9100' }), {
    http: 80,
    metrics: 9100,
  });
  assert.throws(() => named(['grpc']), /--named-port: "grpc" is not a named port \(expected name=port\)/);
  assert.throws(() => named(['Grpc=1']), /--named-port: port name "Grpc" must contain only lowercase/);
  assert.throws(() => named(['grpc=70000']), /--named-port grpc/);
  assert.throws(() => named(['80=80']), /port name "80" .*at least one letter/);
});

test('--destination is an address, from the flag or WEFT_PROXY_DESTINATION_ADDR', () => {
  assert.deepEqual(resolveProxyConfig({ destination: DEST }, {}).destination, {
    host: '127.0.0.1',
    port: 8086,
  });
  assert.deepEqual(resolveProxyConfig({}, { WEFT_PROXY_DESTINATION_ADDR: 'cp:9' }).destination, {
    host: 'cp',
    port: 9,
  });
  assert.throws(() => resolveProxyConfig({ destination: 'nope' }, {}), /^Error: --destination: /);
  assert.throws(
    () => resolveProxyConfig({}, { WEFT_PROXY_DESTINATION_ADDR: 'x:99999' }),
    /^Error: WEFT_PROXY_DESTINATION_ADDR: port 99999/,
  );
});

test('--workload requires --destination, naming where the workload came from', () => {
  assert.throws(() => resolveProxyConfig({ workload: 'web' }, {}), {
    message: '--workload: registering a workload needs the control plane (--destination)',
  });
  assert.throws(() => resolveProxyConfig({}, { WEFT_PROXY_WORKLOAD: 'web' }), {
    message: 'WEFT_PROXY_WORKLOAD: registering a workload needs the control plane (--destination)',
  });
  assert.equal(
    resolveProxyConfig({ workload: 'web', destination: DEST, controlPlaneTokenFile: TOKEN }, {}).identity
      .workload,
    'web',
  );
});

test('--workload requires a control-plane credential, and only a workload presents one', () => {
  assert.throws(() => resolveProxyConfig({ workload: 'web', destination: DEST }, {}), {
    message:
      "--workload: registering a workload needs a credential the control plane issued (--control-plane-token-file: weft up's <state-dir>/owner.token by hand)",
  });
  assert.throws(
    () => resolveProxyConfig({ destination: DEST }, { WEFT_PROXY_CONTROL_PLANE_TOKEN_FILE: TOKEN }),
    {
      message:
        'WEFT_PROXY_CONTROL_PLANE_TOKEN_FILE: only a proxy that registers a workload (--workload) presents one',
    },
  );
  assert.equal(
    resolveProxyConfig({ workload: 'web', destination: DEST, controlPlaneTokenFile: TOKEN }, {})
      .controlPlaneTokenFile,
    TOKEN,
  );
});

test('workload, namespace, service account and pod must be DNS-1123 labels', () => {
  assert.throws(
    () => resolveProxyConfig({ workload: 'Web', destination: DEST, controlPlaneTokenFile: TOKEN }, {}),
    /^Error: --workload: "Web" must consist/,
  );
  assert.throws(
    () => resolveProxyConfig({ destination: DEST }, { WEFT_PROXY_NAMESPACE: 'bad_ns' }),
    /^Error: WEFT_PROXY_NAMESPACE: "bad_ns" must consist/,
  );
  assert.throws(() => resolveProxyConfig({ serviceAccount: '-sa' }, {}), /^Error: --service-account: "-sa"/);
  assert.throws(() => resolveProxyConfig({ pod: 'p'.repeat(64) }, {}), /--pod: "p+" must be no more than 63/);
});

test('the pod defaults to the workload name and a five-character random suffix', () => {
  const pods = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const { pod } = resolveProxyConfig(
      { workload: 'web', destination: DEST, controlPlaneTokenFile: TOKEN },
      {},
    ).identity;
    assert.match(pod, /^web-[0-9a-f]{5}$/);
    pods.add(pod);
  }
  assert.ok(pods.size > 1, 'the suffix is random');
  assert.equal(
    resolveProxyConfig({ workload: 'web', destination: DEST, controlPlaneTokenFile: TOKEN, pod: 'web-0' }, {})
      .identity.pod,
    'web-0',
  );
  assert.equal(
    resolveProxyConfig(
      { workload: 'web', destination: DEST, controlPlaneTokenFile: TOKEN },
      { WEFT_PROXY_POD: 'from-env' },
    ).identity.pod,
    'from-env',
  );
});

test('the identity takes namespace and service account from flags or the environment', () => {
  const c = resolveProxyConfig(
    { workload: 'web', destination: DEST, controlPlaneTokenFile: TOKEN, serviceAccount: 'web-sa' },
    { WEFT_PROXY_NAMESPACE: 'prod', WEFT_PROXY_SERVICE_ACCOUNT: 'ignored' },
  );
  assert.equal(c.identity.namespace, 'prod');
  assert.equal(c.identity.serviceAccount, 'web-sa');
});

test('--label: repeated flags or comma-separated k=v, validated as Kubernetes labels', () => {
  assert.deepEqual(resolveProxyConfig({ label: ['app=web', 'version=v1, tier=front'] }, {}).identity.labels, {
    app: 'web',
    version: 'v1',
    tier: 'front',
  });
  assert.deepEqual(
    resolveProxyConfig({}, { WEFT_PROXY_LABELS: 'app.kubernetes.io/name=web,empty=' }).identity.labels,
    { 'app.kubernetes.io/name': 'web', empty: '' },
  );
  // The flag wins over the variable entirely.
  assert.deepEqual(resolveProxyConfig({ label: ['a=1'] }, { WEFT_PROXY_LABELS: 'b=2' }).identity.labels, {
    a: '1',
  });
  assert.throws(() => resolveProxyConfig({ label: ['app'] }, {}), {
    message: '--label: "app" is not a label (expected key=value)',
  });
  assert.throws(() => resolveProxyConfig({ label: ['=web'] }, {}), /--label: "=web" is not a label/);
  assert.throws(
    () => resolveProxyConfig({ label: ['bad key=v'] }, {}),
    /^Error: --label: label key "bad key" is invalid/,
  );
  assert.throws(
    () => resolveProxyConfig({}, { WEFT_PROXY_LABELS: 'app=bad value' }),
    /^Error: WEFT_PROXY_LABELS: label value "bad value" is invalid/,
  );
  assert.throws(
    () => resolveProxyConfig({}, { WEFT_PROXY_LABELS: 'a=b=c' }),
    /WEFT_PROXY_LABELS: label value "b=c"/,
  );
});

test('parseLabels skips blanks and keeps the last of a repeated key', () => {
  assert.deepEqual(parseLabels(' a=1 ,, a=2 ,', 'x'), { a: '2' });
  assert.deepEqual(parseLabels('', 'x'), {});
});

test('the advertised address defaults to the inbound listener, a wildcard as 127.0.0.1', () => {
  const adv = (flags: Parameters<typeof resolveProxyConfig>[0], env = {}) =>
    resolveProxyConfig(flags, env).identity.advertise;
  assert.deepEqual(adv({}), { host: '127.0.0.1', port: 4143 });
  assert.deepEqual(adv({ inboundAddr: '0.0.0.0:5000' }), { host: '127.0.0.1', port: 5000 });
  assert.deepEqual(adv({ inboundAddr: '[::]:5001' }), { host: '127.0.0.1', port: 5001 });
  assert.deepEqual(adv({ inboundAddr: '10.1.2.3:5002' }), { host: '10.1.2.3', port: 5002 });
  assert.deepEqual(adv({ inboundAddr: '0.0.0.0:5000', advertiseAddr: '192.168.1.5:6000' }), {
    host: '192.168.1.5',
    port: 6000,
  });
  assert.deepEqual(adv({}, { WEFT_PROXY_ADVERTISE_ADDR: 'node-1:7000' }), { host: 'node-1', port: 7000 });
  assert.throws(() => adv({ advertiseAddr: 'nope' }), /--advertise-addr/);
});

test('identity flags override the Lease field by field, from flags or WEFT_PROXY_IDENTITY_*', () => {
  const base = { workload: 'web', destination: DEST, controlPlaneTokenFile: TOKEN };
  assert.deepEqual(resolveProxyConfig(base, {}).identityOverrides, {});
  assert.deepEqual(resolveProxyConfig({}, {}).identityOverrides, {});
  const c = resolveProxyConfig(
    {
      ...base,
      identityAddr: '127.0.0.1:8080',
      identityName: 'web.default.serviceaccount.identity.weft.cluster.local',
    },
    {
      WEFT_PROXY_IDENTITY_TOKEN_FILE: '/tokens/web',
      WEFT_PROXY_IDENTITY_TRUST_ANCHORS_FILE: '/anchors.pem',
      WEFT_PROXY_IDENTITY_SERVER_NAME: 'weft-identity.weft.serviceaccount.identity.weft.cluster.local',
      WEFT_PROXY_IDENTITY_ADDR: '10.0.0.1:1',
    },
  );
  assert.deepEqual(c.identityOverrides, {
    name: 'web.default.serviceaccount.identity.weft.cluster.local',
    addr: { host: '127.0.0.1', port: 8080 },
    tokenFile: '/tokens/web',
    trustAnchorsFile: '/anchors.pem',
    serverName: 'weft-identity.weft.serviceaccount.identity.weft.cluster.local',
  });
});

test('identity flags are refused without a workload, and checked, naming the flag or variable', () => {
  assert.throws(() => resolveProxyConfig({ destination: DEST, identityTokenFile: '/t' }, {}), {
    message: '--identity-token-file: only a proxy that registers a workload (--workload) has an identity',
  });
  assert.throws(() => resolveProxyConfig({}, { WEFT_PROXY_IDENTITY_ADDR: '127.0.0.1:1' }), {
    message: 'WEFT_PROXY_IDENTITY_ADDR: only a proxy that registers a workload (--workload) has an identity',
  });
  const base = { workload: 'web', destination: DEST, controlPlaneTokenFile: TOKEN };
  assert.throws(() => resolveProxyConfig({ ...base, identityAddr: 'nope' }, {}), /^Error: --identity-addr: /);
  assert.throws(
    () => resolveProxyConfig({ ...base, identityAddr: '127.0.0.1:0' }, {}),
    /^Error: --identity-addr: port 0/,
  );
  assert.throws(
    () => resolveProxyConfig(base, { WEFT_PROXY_IDENTITY_NAME: 'Not_A.Name' }),
    /^Error: WEFT_PROXY_IDENTITY_NAME: "Not_A.Name" is not a DNS name/,
  );
  assert.throws(
    () => resolveProxyConfig({ ...base, identityServerName: 'a..b' }, {}),
    /^Error: --identity-server-name: "a..b" is not a DNS name/,
  );
});
