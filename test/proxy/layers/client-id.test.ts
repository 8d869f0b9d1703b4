/**
 * The weft-client-id header the application sees is only ever the proxy's: a value a
 * client sent itself is removed on every inbound HTTP path (HTTP/1 and upgrades are
 * covered in mesh.test.ts and forward-upgrade.test.ts; here HTTP/2, and HTTP/2 carrying
 * HTTP/1 by orig-proto, to an HTTP/1 app).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type Echo, type H2Echo, rawHeaderValues, startEchoApp, startH2App } from '../../helpers/apps.js';
import { h2connect, h2request } from '../../helpers/h2.js';
import { Cleanup } from '../../helpers/net.js';
import { startBehindProxy } from '../../helpers/proxy.js';

const T = { timeout: 30_000 };
const FORGED = 'forged.serviceaccount.identity.weft.cluster.local';

describe('inbound strips a client-sent weft-client-id', () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  test('HTTP/2 to an HTTP/2 app', T, async () => {
    const { p } = await startBehindProxy(cleanup, startH2App);
    const s = await h2connect(p.inbound.port);
    cleanup.add(() => s.destroy());
    const res = await h2request(s, { ':path': '/echo', 'weft-client-id': FORGED });
    assert.equal(res.status, 200);
    const echo = JSON.parse(res.body.toString()) as H2Echo;
    assert.equal(echo.headers['weft-client-id'], undefined);
    s.destroy();
  });

  test('HTTP/2 carrying HTTP/1 (orig-proto) to an HTTP/1 app', T, async () => {
    const { p } = await startBehindProxy(cleanup, startEchoApp);
    const s = await h2connect(p.inbound.port);
    cleanup.add(() => s.destroy());
    const res = await h2request(s, {
      ':path': '/orig',
      'weft-orig-proto': 'HTTP/1.1',
      'weft-client-id': FORGED,
    });
    assert.equal(res.status, 200);
    const echo = JSON.parse(res.body.toString()) as Echo;
    assert.equal(echo.url, '/orig', 'it reached the HTTP/1 app');
    assert.deepEqual(rawHeaderValues(echo.rawHeaders, 'weft-client-id'), []);
    s.destroy();
  });
});
