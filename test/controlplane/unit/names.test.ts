import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ipAuthority, resolveAuthority, serviceFqdn } from '../../../src/controlplane/destination/names.js';

const CD = 'cluster.local';
const r = (authority: string, ns = 'ctx', domain = CD) => resolveAuthority(authority, ns, domain);

test('a bare name is a Service in the context namespace, port 80 unless given', () => {
  assert.deepEqual(r('web'), { namespace: 'ctx', service: 'web', port: 80 });
  assert.deepEqual(r('web:8080'), { namespace: 'ctx', service: 'web', port: 8080 });
  assert.deepEqual(r('web', 'prod'), { namespace: 'prod', service: 'web', port: 80 });
});

test('svc.ns, svc.ns.svc and svc.ns.svc.<cluster domain> name a Service in ns', () => {
  const want = { namespace: 'prod', service: 'web', port: 80 };
  for (const a of ['web.prod', 'web.prod.svc', 'web.prod.svc.cluster.local']) assert.deepEqual(r(a), want, a);
  for (const a of ['web.prod:9', 'web.prod.svc:9', 'web.prod.svc.cluster.local:9']) {
    assert.deepEqual(r(a), { ...want, port: 9 }, a);
  }
});

test('a custom cluster domain replaces cluster.local, of any length and case', () => {
  assert.deepEqual(r('web.prod.svc.example.org', 'ctx', 'example.org'), {
    namespace: 'prod',
    service: 'web',
    port: 80,
  });
  assert.deepEqual(r('web.prod.svc.a.b.c:81', 'ctx', 'A.b.C'), {
    namespace: 'prod',
    service: 'web',
    port: 81,
  });
  assert.equal(r('web.prod.svc.cluster.local', 'ctx', 'example.org'), undefined);
  assert.equal(r('web.prod.svc.example', 'ctx', 'example.org'), undefined);
  assert.deepEqual(r('web.prod.svc.mesh', 'ctx', 'mesh'), { namespace: 'prod', service: 'web', port: 80 });
});

test('a trailing dot and uppercase are accepted', () => {
  const want = { namespace: 'prod', service: 'web', port: 80 };
  assert.deepEqual(r('web.prod.svc.cluster.local.'), want);
  assert.deepEqual(r('web.prod.svc.cluster.local.:80'), want);
  assert.deepEqual(r('WEB.Prod.SVC.Cluster.Local'), want);
  assert.deepEqual(r('Web:8080'), { namespace: 'ctx', service: 'web', port: 8080 });
});

test('IP addresses are not mesh names', () => {
  for (const a of [
    '10.0.0.1',
    '10.0.0.1:80',
    '127.0.0.1:8080',
    '[::1]',
    '[::1]:80',
    '::1',
    'fe80::1',
    '[2001:db8::1]:443',
  ]) {
    assert.equal(r(a), undefined, a);
  }
});

test('ipAuthority: an IP literal and its port (80 when none), which may be a Service cluster IP', () => {
  assert.deepEqual(ipAuthority('10.43.0.12:7000'), { ip: '10.43.0.12', port: 7000 });
  assert.deepEqual(ipAuthority('10.43.0.12'), { ip: '10.43.0.12', port: 80 });
  assert.deepEqual(ipAuthority('[FD00::C]:443'), { ip: 'fd00::c', port: 443 });
  assert.deepEqual(ipAuthority('[::1]'), { ip: '::1', port: 80 });
  assert.deepEqual(ipAuthority('10.43.0.12:65535'), { ip: '10.43.0.12', port: 65535 });
  for (const a of [
    'web:80',
    'web.prod.svc.cluster.local:80',
    '',
    ':80',
    '10.43.0.12:',
    '10.43.0.12:0',
    '10.43.0.12:65536',
    '10.43.0.12:http',
    '10.43.0.256:80',
    '10.43.0:80',
    '10.43.0.12:80:80',
    'fd00::c',
    'fd00::c:80',
    '[10.43.0.12]:80',
    '[fd00::c]80',
    '[web]:80',
  ]) {
    assert.equal(ipAuthority(a), undefined, JSON.stringify(a));
  }
});

test('names outside the cluster domain, or malformed, are not mesh names', () => {
  for (const a of [
    'a.b.c.d',
    'example.com.au',
    'web.prod.other',
    'web.prod.svc.cluster',
    'web.prod.svc.cluster.local.extra',
    'web.prod.pod.cluster.local',
    '',
    '.',
    ':80',
    'web..prod',
    '.web',
    'web_1',
    '-web',
    'web-',
    'we b',
    `${'a'.repeat(64)}.prod`,
  ]) {
    assert.equal(r(a), undefined, JSON.stringify(a));
  }
  assert.deepEqual(r(`${'a'.repeat(63)}.prod`), { namespace: 'prod', service: 'a'.repeat(63), port: 80 });
});

test('bad ports are refused', () => {
  for (const a of [
    'web:',
    'web:0',
    'web:65536',
    'web:99999',
    'web:123456',
    'web:http',
    'web:-1',
    'web:+80',
    'web: 80',
    'web:8a',
    'web:80:80',
  ]) {
    assert.equal(r(a), undefined, a);
  }
  assert.deepEqual(r('web:65535'), { namespace: 'ctx', service: 'web', port: 65535 });
  assert.deepEqual(r('web:1'), { namespace: 'ctx', service: 'web', port: 1 });
});

test('serviceFqdn', () => {
  assert.equal(
    serviceFqdn({ namespace: 'prod', service: 'web' }, 'cluster.local'),
    'web.prod.svc.cluster.local',
  );
});
