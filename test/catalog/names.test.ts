import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  dns1035LabelError,
  dns1123LabelError,
  labelKeyError,
  labelValueError,
  portNameError,
} from '../../src/catalog/names.js';

test('DNS-1123 labels (namespaces, pods): lowercase alphanumerics and inner dashes, at most 63', () => {
  for (const ok of ['a', '0', 'web', 'web-1', '1web', 'a'.repeat(63), 'a-b-c']) {
    assert.equal(dns1123LabelError(ok), undefined, ok);
  }
  for (const bad of ['', 'Web', '-web', 'web-', 'we_b', 'we.b', 'wéb', ' web']) {
    assert.match(dns1123LabelError(bad) ?? '', /must consist of lowercase alphanumeric/, JSON.stringify(bad));
  }
  assert.equal(dns1123LabelError('a'.repeat(64)), 'must be no more than 63 characters');
});

test('DNS-1035 labels (Service names) must also start with a letter', () => {
  for (const ok of ['a', 'web', 'web-1', 'w0', 'a'.repeat(63)])
    assert.equal(dns1035LabelError(ok), undefined, ok);
  for (const bad of ['', '1web', '0', 'Web', '-web', 'web-', 'web.x']) {
    assert.match(dns1035LabelError(bad) ?? '', /start with a letter/, JSON.stringify(bad));
  }
  assert.equal(dns1035LabelError('a'.repeat(64)), 'must be no more than 63 characters');
});

test('port names (IANA_SVC_NAME): at most 15, a letter somewhere, no double dash', () => {
  for (const ok of ['http', 'h2', '8080a', 'a'.repeat(15), 'admin-http', '1-a']) {
    assert.equal(portNameError(ok), undefined, ok);
  }
  assert.equal(portNameError('a'.repeat(16)), 'must be no more than 15 characters');
  for (const bad of ['', '8080', 'Http', '-http', 'http-', 'ht_tp', '1-2']) {
    assert.match(portNameError(bad) ?? '', /at least one letter/, JSON.stringify(bad));
  }
  assert.equal(portNameError('a--b'), "must not contain consecutive '-'");
});

test('label keys: an optional DNS-subdomain prefix and a 63-character name', () => {
  for (const ok of [
    'app',
    'App',
    'a',
    'a.b_c-d',
    'app.kubernetes.io/name',
    'example.com/X_y',
    'x/y',
    'a'.repeat(63),
    `${'p'.repeat(253)}/n`,
  ]) {
    assert.equal(labelKeyError(ok), undefined, ok);
  }
  for (const bad of ['', '/', 'a/', '-app', 'app-', '_app', 'a b', 'a'.repeat(64), 'a/b/c']) {
    assert.match(labelKeyError(bad) ?? '', /^label key ".*" (is invalid|has an invalid prefix)/, bad);
  }
  assert.match(labelKeyError('a/') ?? '', /is invalid/);
  for (const badPrefix of ['/x', 'Example.com/x', 'ex_ample.com/x', '-a.com/x', `${'p'.repeat(254)}/n`]) {
    assert.equal(
      labelKeyError(badPrefix),
      `label key "${badPrefix}" has an invalid prefix (must be a DNS subdomain)`,
      badPrefix,
    );
  }
});

test('label values: empty, or up to 63 alphanumerics, -, _ and . with alphanumeric ends', () => {
  for (const ok of ['', 'v', 'V1', 'a.b_c-d', 'v'.repeat(63)])
    assert.equal(labelValueError(ok), undefined, ok);
  for (const bad of ['-v', 'v-', '.v', 'a b', 'a/b', 'v'.repeat(64), 'é']) {
    assert.equal(
      labelValueError(bad),
      `label value "${bad}" is invalid (at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric)`,
    );
  }
});
