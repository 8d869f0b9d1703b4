import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AnnotationError,
  effectiveAnnotations,
  parseQuantity,
  proxySettings,
  unknownConfigKeys,
} from '../../src/inject/annotations.js';
import { unsupportedLinkerdKeys, weftView } from '../../src/inject/linkerd.js';

const settings = (entries: Record<string, string>) => proxySettings(new Map(Object.entries(entries)));
const refused = (entries: Record<string, string>, message: RegExp) =>
  assert.throws(
    () => settings(entries),
    (err: unknown) => err instanceof AnnotationError && message.test(err.message),
  );

test('no annotations: the defaults', () => {
  assert.deepEqual(settings({}), {
    skipInboundPorts: [],
    skipOutboundPorts: [],
    logLevel: 'info',
    uid: 2102,
  });
});

test('every setting, as the annotations give it', () => {
  assert.deepEqual(
    settings({
      'config.weft.io/skip-inbound-ports': ' 22, 3000-3010 ',
      'config.weft.io/skip-outbound-ports': '25,465',
      'config.weft.io/opaque-ports': '3306',
      'config.weft.io/proxy-cpu-request': '50m',
      'config.weft.io/proxy-cpu-limit': '1',
      'config.weft.io/proxy-memory-request': '32Mi',
      'config.weft.io/proxy-memory-limit': '128Mi',
      'config.weft.io/proxy-log-level': 'DEBUG',
      'config.weft.io/proxy-uid': '2200',
    }),
    {
      skipInboundPorts: ['22', '3000-3010'],
      skipOutboundPorts: ['25', '465'],
      opaquePorts: ['3306'],
      resources: { limits: { cpu: '1', memory: '128Mi' }, requests: { cpu: '50m', memory: '32Mi' } },
      logLevel: 'debug',
      uid: 2200,
    },
  );
});

test('resources: only what is given', () => {
  assert.deepEqual(settings({ 'config.weft.io/proxy-memory-limit': '64Mi' }).resources, {
    limits: { memory: '64Mi' },
  });
  assert.equal(settings({ 'config.weft.io/proxy-cpu-limit': '' }).resources, undefined);
});

test('the template wins over the workload', () => {
  const merged = effectiveAnnotations(
    new Map([
      ['config.weft.io/proxy-log-level', 'debug'],
      ['config.weft.io/proxy-uid', '3000'],
    ]),
    new Map([['config.weft.io/proxy-log-level', 'warn']]),
  );
  assert.deepEqual(Object.fromEntries(merged), {
    'config.weft.io/proxy-log-level': 'warn',
    'config.weft.io/proxy-uid': '3000',
  });
});

test('port lists: a bad one is an AnnotationError naming the annotation', () => {
  refused(
    { 'config.weft.io/skip-inbound-ports': '80,99999' },
    /^config\.weft\.io\/skip-inbound-ports: "99999"/,
  );
  refused(
    { 'config.weft.io/skip-outbound-ports': '443-80' },
    /skip-outbound-ports: the range "443-80" is backwards/,
  );
  refused({ 'config.weft.io/opaque-ports': 'mysql' }, /opaque-ports: "mysql" is not a port/);
});

test('quantities are Kubernetes quantities, and a request is no more than its limit', () => {
  assert.equal(parseQuantity('100m', 'q'), 0.1);
  assert.equal(parseQuantity('64Mi', 'q'), 64 * 2 ** 20);
  assert.equal(parseQuantity('1e3', 'q'), 1000);
  assert.equal(parseQuantity('.5', 'q'), 0.5);
  for (const bad of ['100 m', 'lots', '64MB', '-1', '1.2.3', '']) {
    assert.throws(() => parseQuantity(bad, 'q'), AnnotationError, bad);
  }
  refused(
    { 'config.weft.io/proxy-cpu-request': 'half' },
    /^config\.weft\.io\/proxy-cpu-request: "half" is not a Kubernetes quantity/,
  );
  refused(
    { 'config.weft.io/proxy-memory-request': '1Gi', 'config.weft.io/proxy-memory-limit': '512Mi' },
    /proxy-memory-request: "1Gi" is more than config\.weft\.io\/proxy-memory-limit \("512Mi"\)/,
  );
  assert.ok(
    settings({ 'config.weft.io/proxy-cpu-request': '500m', 'config.weft.io/proxy-cpu-limit': '0.5' }),
  );
});

test("log levels are Weft's", () => {
  for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'off']) {
    assert.equal(settings({ 'config.weft.io/proxy-log-level': level }).logLevel, level);
  }
  refused(
    { 'config.weft.io/proxy-log-level': 'verbose' },
    /^config\.weft\.io\/proxy-log-level: "verbose" is not a log level/,
  );
  refused({ 'config.weft.io/proxy-log-level': 'warn,weft=debug' }, /proxy-log-level/);
});

test('the proxy UID is a positive integer: not root', () => {
  refused({ 'config.weft.io/proxy-uid': '0' }, /^config\.weft\.io\/proxy-uid: "0" is not a user ID/);
  refused({ 'config.weft.io/proxy-uid': '-5' }, /proxy-uid/);
  refused({ 'config.weft.io/proxy-uid': '2102.5' }, /proxy-uid/);
  refused({ 'config.weft.io/proxy-uid': '4294967296' }, /proxy-uid/);
});

test('unknown config.weft.io keys are found, to be warned about', () => {
  assert.deepEqual(
    unknownConfigKeys(
      new Map([
        ['config.weft.io/proxy-log-level', 'info'],
        ['config.weft.io/proxy-loglevel', 'debug'],
        ['config.linkerd.io/skip-inbound-ports', '22'],
      ]),
    ),
    ['config.weft.io/proxy-loglevel'],
  );
});

test("Linkerd's names are read as weft's, weft's winning where one place sets both", () => {
  const view = weftView(
    new Map([
      ['linkerd.io/inject', 'enabled'],
      ['config.linkerd.io/opaque-ports', '3306'],
      ['config.weft.io/proxy-uid', '2200'],
      ['config.linkerd.io/proxy-uid', '2300'],
      ['config.weft.io/proxy-log-level', 'warn'],
      ['config.linkerd.io/proxy-log-level', 'warn'],
      ['config.linkerd.io/proxy-await', 'enabled'],
      ['app.example.com/team', 'books'],
    ]),
  );
  assert.deepEqual(Object.fromEntries(view.annotations), {
    'weft.io/inject': { key: 'linkerd.io/inject', value: 'enabled' },
    'config.weft.io/opaque-ports': { key: 'config.linkerd.io/opaque-ports', value: '3306' },
    'config.weft.io/proxy-uid': { key: 'config.weft.io/proxy-uid', value: '2200' },
    'config.weft.io/proxy-log-level': { key: 'config.weft.io/proxy-log-level', value: 'warn' },
    'config.linkerd.io/proxy-await': { key: 'config.linkerd.io/proxy-await', value: 'enabled' },
    'app.example.com/team': { key: 'app.example.com/team', value: 'books' },
  });
  assert.deepEqual(view.conflicts, [
    [
      { key: 'config.weft.io/proxy-uid', value: '2200' },
      { key: 'config.linkerd.io/proxy-uid', value: '2300' },
    ],
  ]);
  assert.deepEqual(unsupportedLinkerdKeys(view.annotations), ['config.linkerd.io/proxy-await']);
  // Between places, the template's wins whichever name it uses.
  const merged = effectiveAnnotations(
    weftView(new Map([['weft.io/inject', 'disabled']])).annotations,
    weftView(new Map([['linkerd.io/inject', 'enabled']])).annotations,
  );
  assert.deepEqual(merged.get('weft.io/inject'), { key: 'linkerd.io/inject', value: 'enabled' });
});
