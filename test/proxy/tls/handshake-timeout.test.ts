/**
 * The outbound mTLS handshake timeout: a meshed endpoint that accepts TCP and never
 * answers the ClientHello (black-holed above TCP) costs a request the handshake timeout
 * (`--outbound-tls-handshake-timeout`, 3 s by default; 10 s before), not more, and is
 * taken out like an endpoint that refused the connect.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LocalIdentity } from '../../../src/proxy/identity/local.js';
import { Cleanup, LOOPBACK, request, startTcpServer } from '../../helpers/net.js';
import { AUTHORITY, closeSide, endpointsOf, meshIdentities, side } from '../../helpers/stacks.js';

const T = { timeout: 8000 };
const HANDSHAKE_MS = 300;

describe('the outbound mTLS handshake timeout', () => {
  const cleanup = new Cleanup();
  let client: LocalIdentity;
  let web: LocalIdentity;
  before(async () => {
    ({ client, web } = await meshIdentities());
  });
  after(() => cleanup.run());

  test(
    'a meshed endpoint that never answers the handshake fails the request in time, and is taken out',
    T,
    async () => {
      let accepted = 0;
      const hung = await startTcpServer(() => {
        accepted++;
      });
      cleanup.add(() => hung.close());
      const { discovery, resolution } = endpointsOf(
        [{ addr: { host: LOOPBACK, port: hung.port }, identity: web.name }],
        { connectBackoff: { minMs: 60_000, maxMs: 60_000, jitterRatio: 0 }, failfastMs: 200 },
      );
      const s = await side('outbound', client, { host: LOOPBACK, port: 0 }, discovery, {
        tlsHandshakeTimeoutMs: HANDSHAKE_MS,
      });
      cleanup.add(() => closeSide(s));
      const res = await request(
        { host: LOOPBACK, port: s.addr.port, path: '/', headers: { host: AUTHORITY } },
        undefined,
        6000,
      );
      assert.equal(res.status, 502, res.body.toString());
      assert.match(
        String(res.headers['weft-proxy-error']),
        new RegExp(`handshake timed out after ${HANDSHAKE_MS}ms`),
      );
      assert.equal(accepted, 1);
      assert.equal(
        resolution.balancer.get(`${LOOPBACK}:${hung.port}`)?.isAvailable(),
        false,
        'the endpoint is out',
      );
      // Its only endpoint out, the next request fails fast instead of waiting on it again.
      const next = await request(
        { host: LOOPBACK, port: s.addr.port, path: '/', headers: { host: AUTHORITY } },
        undefined,
        6000,
      );
      assert.equal(next.status, 503);
      assert.equal(accepted, 1);
    },
  );
});
