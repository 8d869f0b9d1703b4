/** The tap settings: `--tap-addr` and `--tap-svc-name`, and the default tap identity. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { identityName, tapIdentityName } from '../../../src/identity/names.js';
import { resolveProxyConfig } from '../../../src/proxy/config.js';
import { domainForTap, trustDomainOf } from '../../../src/proxy/tap/server.js';

test('--tap-addr defaults to 0.0.0.0:4190, as Linkerd; the flag wins over WEFT_PROXY_TAP_ADDR', () => {
  assert.deepEqual(resolveProxyConfig({}, {}).tapAddr, { host: '0.0.0.0', port: 4190 });
  assert.deepEqual(resolveProxyConfig({}, { WEFT_PROXY_TAP_ADDR: '127.0.0.1:0' }).tapAddr, {
    host: '127.0.0.1',
    port: 0,
  });
  assert.deepEqual(
    resolveProxyConfig({ tapAddr: '127.0.0.1:4999' }, { WEFT_PROXY_TAP_ADDR: '127.0.0.1:0' }).tapAddr,
    { host: '127.0.0.1', port: 4999 },
  );
  assert.throws(() => resolveProxyConfig({ tapAddr: 'x:99999' }, {}), /--tap-addr: port 99999/);
});

test('--tap-svc-name is a DNS name; unset, the proxy derives it', () => {
  assert.equal(resolveProxyConfig({}, {}).tapSvcName, undefined);
  assert.equal(
    resolveProxyConfig(
      {},
      { WEFT_PROXY_TAP_SVC_NAME: 'tap.other.serviceaccount.identity.weft.cluster.local' },
    ).tapSvcName,
    'tap.other.serviceaccount.identity.weft.cluster.local',
  );
  assert.throws(
    () => resolveProxyConfig({ tapSvcName: 'Not A Name' }, {}),
    /--tap-svc-name: "Not A Name" is not a DNS name/,
  );
});

test("the default tap identity is viz's, in the proxy's own trust domain", () => {
  assert.equal(tapIdentityName(), 'tap.weft-viz.serviceaccount.identity.weft.cluster.local');
  const own = identityName('web', 'shop', { trustDomain: 'example.org', controlPlaneNamespace: 'mesh' });
  assert.deepEqual(trustDomainOf(own), { trustDomain: 'example.org', controlPlaneNamespace: 'mesh' });
  assert.equal(tapIdentityName(domainForTap(own)), 'tap.weft-viz.serviceaccount.identity.mesh.example.org');
  // A name that is no workload identity: the default domain.
  assert.equal(trustDomainOf('web.example.org'), undefined);
  assert.equal(tapIdentityName(domainForTap('web.example.org')), tapIdentityName());
});
