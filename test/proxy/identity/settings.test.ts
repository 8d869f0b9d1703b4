import assert from 'node:assert/strict';
import { test } from 'node:test';
import { identitySettings } from '../../../src/proxy/identity/settings.js';

const LEASE = {
  name: 'web.default.serviceaccount.identity.weft.cluster.local',
  tokenFile: '/state/tokens/default/web-1',
  trustAnchorsFile: '/state/identity/trust-anchors.pem',
  addr: '127.0.0.1:8087',
  serverName: 'weft-identity.weft.serviceaccount.identity.weft.cluster.local',
};

test("the Lease's identity settings, each overridden by a flag", () => {
  assert.deepEqual(identitySettings(LEASE, {}), { ...LEASE, addr: { host: '127.0.0.1', port: 8087 } });
  assert.deepEqual(identitySettings(LEASE, { addr: { host: '10.0.0.9', port: 1 }, tokenFile: '/mine' }), {
    ...LEASE,
    addr: { host: '10.0.0.9', port: 1 },
    tokenFile: '/mine',
  });
  // A flag replaces an address the proxy could not even parse.
  assert.equal(identitySettings({ ...LEASE, addr: 'junk' }, { addr: { host: 'h', port: 2 } })?.addr.port, 2);
});

test('no identity from an older control plane, unless the flags give all of it', () => {
  assert.equal(identitySettings(undefined, {}), undefined);
  assert.equal(identitySettings(null, {}), undefined);
  assert.equal(
    identitySettings({ name: '', tokenFile: '', trustAnchorsFile: '', addr: '', serverName: '' }, {}),
    undefined,
  );
  const flags = { ...LEASE, addr: { host: '127.0.0.1', port: 8087 } };
  assert.deepEqual(identitySettings(undefined, flags), flags);
});

test('incomplete settings are an error naming the missing flags', () => {
  assert.throws(() => identitySettings(undefined, { name: LEASE.name }), {
    message:
      'incomplete identity settings: neither the control plane nor the flags give --identity-token-file, --identity-trust-anchors-file, --identity-addr, --identity-server-name',
  });
  assert.throws(() => identitySettings({ ...LEASE, serverName: '' }, {}), /give --identity-server-name$/);
  assert.throws(() => identitySettings({ ...LEASE, addr: 'junk' }, {}), /identity address/);
});
