import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpMetrics, isFailure, MAX_AUTHORITIES } from '../../src/metrics/http.js';
import { Registry } from '../../src/metrics/registry.js';

test('responses are classified as Linkerd does', () => {
  assert.equal(isFailure(200, undefined, false), false);
  assert.equal(isFailure(404, undefined, false), false);
  assert.equal(isFailure(503, undefined, false), true);
  assert.equal(isFailure(200, 0, false), false);
  assert.equal(isFailure(200, 14, false), true);
  assert.equal(isFailure(200, undefined, true), true);
});

test('label sets are resolved once per authority and status', () => {
  const r = new Registry();
  const m = new HttpMetrics(r);
  const tls = [['tls', 'no_identity']] as const;
  const base = m.stats('outbound', 'web:80');
  assert.equal(m.stats('outbound', 'web:80'), base);
  assert.notEqual(m.stats('inbound', 'web:80'), base);
  const a = base.with(tls);
  assert.equal(base.with(tls), a, 'one series set per label list');
  a.requests.inc();
  assert.equal(a.response(200, undefined, false), a.response(200, undefined, false));
  a.response(200, undefined, false).inc();
  a.response(200, 5, false).inc();
  a.latency(200).observe(3);
  const text = r.render();
  assert.match(text, /request_total\{direction="outbound",authority="web:80",tls="no_identity"\} 1/);
  assert.match(
    text,
    /response_total\{direction="outbound",authority="web:80",tls="no_identity",status_code="200",classification="success"\} 1/,
  );
  assert.match(text, /status_code="200",grpc_status="5",classification="failure"\} 1/);
  assert.match(text, /response_latency_ms_bucket\{[^}]*status_code="200",le="3"\} 1/);
});

test('peer-chosen authorities are bounded', () => {
  const m = new HttpMetrics(new Registry());
  for (let i = 0; i < MAX_AUTHORITIES; i++) m.stats('inbound', `a${i}`);
  const over = m.stats('inbound', 'one-too-many');
  assert.equal(over, m.stats('inbound', 'overflow'));
});
