import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePortList, resolveProxyConfig } from '../../src/proxy/config.js';

test("defaults are Linkerd's ports and timeouts", () => {
  const c = resolveProxyConfig({}, {});
  assert.deepEqual(c.inboundAddr, { host: '0.0.0.0', port: 4143 });
  assert.deepEqual(c.outboundAddr, { host: '127.0.0.1', port: 4140 });
  assert.deepEqual(c.adminAddr, { host: '127.0.0.1', port: 4191 });
  assert.equal(c.outboundConnectTimeoutMs, 1000);
  assert.equal(c.inboundConnectTimeoutMs, 100);
  assert.equal(c.detectTimeoutMs, 10_000);
  // Not Linkerd's (it has no default request timeout): see docs/architecture.md.
  assert.equal(c.responseHeadersTimeoutMs, 10_000);
  assert.equal(c.outboundTlsHandshakeTimeoutMs, 3000);
  assert.deepEqual([...c.opaquePorts], [25, 587, 3306, 4444, 5432, 6379, 9300, 11211]);
  assert.equal(c.enableShutdownEndpoint, false);
});

test('a flag wins over its environment variable, which wins over the default', () => {
  const env = { WEFT_PROXY_OUTBOUND_ADDR: '127.0.0.1:5000', WEFT_PROXY_DETECT_TIMEOUT: '2s' };
  const c = resolveProxyConfig({ outboundAddr: '127.0.0.1:6000' }, env);
  assert.equal(c.outboundAddr.port, 6000);
  assert.equal(c.detectTimeoutMs, 2000);
  assert.equal(
    resolveProxyConfig({}, { WEFT_PROXY_SHUTDOWN_ENDPOINT_ENABLED: 'true' }).enableShutdownEndpoint,
    true,
  );
});

test('bad values are refused, naming the flag or variable', () => {
  assert.throws(() => resolveProxyConfig({ inboundAddr: 'nope' }, {}), /--inbound-addr: "nope" has no port/);
  assert.throws(
    () => resolveProxyConfig({}, { WEFT_PROXY_ADMIN_ADDR: 'x:99999' }),
    /WEFT_PROXY_ADMIN_ADDR: port 99999/,
  );
  assert.throws(
    () => resolveProxyConfig({ detectTimeout: 'abc' }, {}),
    /--detect-timeout: "abc" is not a duration/,
  );
  assert.throws(
    () => resolveProxyConfig({ inboundConnectTimeout: '0s' }, {}),
    /--inbound-connect-timeout: must be greater/,
  );
  assert.throws(() => resolveProxyConfig({ opaquePorts: '70000' }, {}), /--opaque-ports: port 70000/);
  assert.throws(
    () => resolveProxyConfig({}, { WEFT_PROXY_SHUTDOWN_ENDPOINT_ENABLED: 'maybe' }),
    /not true or false/,
  );
});

test('the response-headers timeout may be turned off; the handshake timeout may not', () => {
  assert.equal(resolveProxyConfig({ responseHeadersTimeout: '0s' }, {}).responseHeadersTimeoutMs, 0);
  assert.equal(
    resolveProxyConfig({}, { WEFT_PROXY_RESPONSE_HEADERS_TIMEOUT: '1m' }).responseHeadersTimeoutMs,
    60_000,
  );
  assert.equal(
    resolveProxyConfig({}, { WEFT_PROXY_OUTBOUND_TLS_HANDSHAKE_TIMEOUT: '500ms' })
      .outboundTlsHandshakeTimeoutMs,
    500,
  );
  assert.throws(
    () => resolveProxyConfig({ outboundTlsHandshakeTimeout: '0s' }, {}),
    /--outbound-tls-handshake-timeout: must be greater/,
  );
  assert.throws(
    () => resolveProxyConfig({}, { WEFT_PROXY_RESPONSE_HEADERS_TIMEOUT: 'soon' }),
    /WEFT_PROXY_RESPONSE_HEADERS_TIMEOUT: "soon" is not a duration/,
  );
});

test('port lists take ranges', () => {
  assert.deepEqual([...parsePortList('1, 5-7,9', 'x')], [1, 5, 6, 7, 9]);
  assert.throws(() => parsePortList('9-5', 'x'), /backwards/);
});
