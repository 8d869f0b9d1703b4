import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveProxyConfig } from '../../../src/proxy/config.js';
import { InboundAuthorization } from '../../../src/proxy/layers/authorize.js';
import { NO_TLS_FROM_REMOTE, PeerCache, TLS_ANONYMOUS_CLIENT } from '../../../src/proxy/tls/peer.js';

const BOT = 'vote-bot.default.serviceaccount.identity.weft.cluster.local';

test('inbound authorization: with identities, only a client that proved one of them', () => {
  const peers = new PeerCache('client_id');
  const only = new InboundAuthorization(new Set([BOT]));
  assert.equal(only.allows(peers.get(BOT)), true);
  assert.equal(only.allows(peers.get('intruder.default.serviceaccount.identity.weft.cluster.local')), false);
  assert.equal(only.allows(TLS_ANONYMOUS_CLIENT), false, 'TLS without a client certificate');
  assert.equal(only.allows(NO_TLS_FROM_REMOTE), false, 'plaintext');
  const open = new InboundAuthorization(undefined);
  assert.equal(open.allows(NO_TLS_FROM_REMOTE), true, 'no policy: every client');
});

test('--inbound-authorized-identities and --inbound-tls-handshake-timeout are read and checked', () => {
  const c = resolveProxyConfig(
    { inboundAuthorizedIdentities: ` ${BOT}, a.b ,`, inboundTlsHandshakeTimeout: '2s' },
    {},
  );
  assert.deepEqual([...(c.inboundAuthorizedIdentities ?? [])], [BOT, 'a.b']);
  assert.equal(c.inboundTlsHandshakeTimeoutMs, 2000);
  const d = resolveProxyConfig({}, {});
  assert.equal(d.inboundAuthorizedIdentities, undefined, 'unset: every client');
  assert.equal(d.inboundTlsHandshakeTimeoutMs, 10_000);
  assert.throws(
    () => resolveProxyConfig({}, { WEFT_PROXY_INBOUND_AUTHORIZED_IDENTITIES: 'Not_A_Name' }),
    /WEFT_PROXY_INBOUND_AUTHORIZED_IDENTITIES: "Not_A_Name" is not an identity/,
  );
});
