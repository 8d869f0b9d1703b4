/**
 * Golden files: each fixtures/NAME.input.yaml injected is NAME.injected.yaml byte for
 * byte (and NAME.injected-native.* with --native-sidecar where there is one); injecting
 * twice changes nothing; uninjecting gives the input back byte for byte (or
 * NAME.uninjected.* where that cannot be: a flow-style input comes back in block style);
 * uninjecting an input that was never injected changes nothing. Independently of the text
 * patches, the injected documents are checked as data: the proxy and init container are
 * where they belong, and everything else equals the input.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { type InjectOptions, injectText } from '../../src/inject/inject.js';
import { uninjectText } from '../../src/inject/uninject.js';

const DIR = new URL('../../../test/inject/fixtures/', import.meta.url);
const OPTS: InjectOptions = {
  proxyImage: 'ghcr.io/weft-mesh/weft',
  proxyVersion: '0.1.0',
  cliVersion: '0.1.0',
  nativeSidecar: false,
};
/** Inputs that are injected already: uninjecting them gives NAME.uninjected.*. */
const ALREADY_INJECTED = new Set(['already-injected']);

const read = (file: string): string => readFileSync(new URL(file, DIR), 'utf8');
const exists = (file: string): boolean => existsSync(new URL(file, DIR));

const fixtures = readdirSync(DIR)
  .map((f) => /^(.*)\.input\.(yaml)$/.exec(f))
  .filter((m): m is RegExpExecArray => m !== null)
  .map((m) => ({ name: m[1] as string, ext: m[2] as string }));

test('there are golden files for every kind, a List, several streams and the emojivoto app', () => {
  assert.ok(fixtures.length >= 12, `${fixtures.length} fixtures`);
  const all = fixtures.map((f) => read(`${f.name}.input.${f.ext}`)).join('\n');
  for (const kind of [
    'Deployment',
    'StatefulSet',
    'DaemonSet',
    'ReplicaSet',
    'Job',
    'CronJob',
    'Pod',
    'List',
    'Namespace',
    'Service',
    'ConfigMap',
  ]) {
    assert.match(all, new RegExp(`kind: '?${kind}'?\\n|"kind": "${kind}"`), kind);
  }
  assert.ok(fixtures.some((f) => f.name === 'emojivoto'));
});

for (const { name, ext } of fixtures) {
  const input = read(`${name}.input.${ext}`);
  const source = `${name}.input.${ext}`;
  const variants: Array<[string, InjectOptions]> = [[`${name}.injected.${ext}`, OPTS]];
  if (exists(`${name}.injected-native.${ext}`)) {
    variants.push([`${name}.injected-native.${ext}`, { ...OPTS, nativeSidecar: true }]);
  }
  const uninjected = exists(`${name}.uninjected.${ext}`) ? read(`${name}.uninjected.${ext}`) : input;

  for (const [golden, opts] of variants) {
    test(`${golden}: inject, inject again, uninject`, () => {
      const expected = read(golden);
      const once = injectText(input, source, opts);
      assert.equal(once.output, expected, `inject(${source}) differs from ${golden}`);
      const twice = injectText(once.output, golden, opts);
      assert.equal(twice.output, once.output, 'injecting twice changed the output');
      for (const line of twice.reports) assert.doesNotMatch(line, / injected$| annotated /, line);
      assert.equal(uninjectText(once.output, golden).output, uninjected, `uninject(${golden})`);
      checkAsData(input, once.output, opts);
    });
  }

  test(`${name}: uninjecting the input`, () => {
    const expected = ALREADY_INJECTED.has(name) ? uninjected : input;
    assert.equal(uninjectText(input, source).output, expected);
    assert.equal(uninjectText(expected, source).output, expected, 'uninjecting twice changed the output');
  });
}

test('the already-injected fixture is what an earlier weft made of its uninjected form', () => {
  const original = read('already-injected.uninjected.yaml');
  const earlier = { ...OPTS, proxyVersion: '0.0.9', cliVersion: '0.0.9' };
  assert.equal(injectText(original, 'x', earlier).output, read('already-injected.input.yaml'));
  assert.deepEqual(injectText(read('already-injected.input.yaml'), 'x', OPTS).reports, [
    'deployment "reviews" skipped (already injected)',
  ]);
});

test('the reports name each resource and what happened to it', () => {
  assert.deepEqual(injectText(read('inject-disabled.input.yaml'), 'f', OPTS).reports, [
    'deployment "legacy" skipped (weft.io/inject: disabled)',
    'deployment "batch-importer" skipped (weft.io/inject: disabled)',
    'deployment "search" injected',
    'namespace "legacy" skipped (weft.io/inject: disabled)',
  ]);
  assert.deepEqual(injectText(read('daemonset-host-network.input.yaml'), 'f', OPTS).reports, [
    'daemonset "node-exporter" skipped (hostNetwork: true)',
    'daemonset "log-shipper" injected',
  ]);
  assert.deepEqual(injectText(read('passthrough.input.yaml'), 'f', OPTS).reports, [
    'configmap "nginx-conf" skipped (not a workload)',
    'service "web" skipped (not a workload)',
    'secret "db-credentials" skipped (not a workload)',
    'ingress "web" skipped (not a workload)',
  ]);
  const emojivoto = injectText(read('emojivoto.input.yaml'), 'f', OPTS);
  assert.deepEqual(emojivoto.reports, [
    'namespace "emojivoto" annotated (weft.io/inject: enabled)',
    'serviceaccount "emoji" skipped (not a workload)',
    'serviceaccount "voting" skipped (not a workload)',
    'serviceaccount "web" skipped (not a workload)',
    'service "emoji-svc" skipped (not a workload)',
    'service "voting-svc" skipped (not a workload)',
    'service "web-svc" skipped (not a workload)',
    'deployment "emoji" injected',
    'deployment "vote-bot" injected',
    'deployment "voting" injected',
    'deployment "web" injected',
  ]);
  assert.deepEqual(uninjectText(emojivoto.output, 'f').reports.slice(-2), [
    'deployment "voting" uninjected',
    'deployment "web" uninjected',
  ]);
  assert.deepEqual(injectText(read('linkerd-annotations.input.yaml'), 'f', OPTS).reports, [
    'namespace "booksapp" skipped (already annotated, linkerd.io/inject: enabled)',
    `namespace "booksapp": read Linkerd's linkerd.io/inject as its weft.io equivalent`,
    'namespace "legacy" skipped (linkerd.io/inject: disabled)',
    `namespace "legacy": read Linkerd's linkerd.io/inject as its weft.io equivalent`,
    'deployment "books" injected',
    `deployment "books": read Linkerd's linkerd.io/inject, config.linkerd.io/opaque-ports, config.linkerd.io/skip-outbound-ports, config.linkerd.io/proxy-cpu-request, config.linkerd.io/proxy-memory-limit, config.linkerd.io/proxy-log-level as their weft.io equivalents`,
    `warning: deployment "books": Linkerd's config.linkerd.io/proxy-await ignored: Weft does not support it`,
    'deployment "traffic" skipped (linkerd.io/inject: disabled)',
    `deployment "traffic": read Linkerd's linkerd.io/inject as its weft.io equivalent`,
    'statefulset "authors" injected',
    `statefulset "authors": read Linkerd's config.linkerd.io/proxy-uid as its weft.io equivalent`,
    'warning: statefulset "authors": config.weft.io/proxy-log-level is "warn" and config.linkerd.io/proxy-log-level "error"; config.weft.io/proxy-log-level wins',
  ]);
  assert.deepEqual(injectText(read('job.input.yaml'), 'f', OPTS).reports, [
    'job "pi" injected',
    `warning: job "pi": the proxy keeps its pods running after the job's containers finish; inject with --native-sidecar`,
  ]);
  assert.deepEqual(injectText(read('job.input.yaml'), 'f', { ...OPTS, nativeSidecar: true }).reports, [
    'job "pi" injected',
  ]);
});

// ---- the injected documents as data

type Obj = Record<string, unknown>;
const TEMPLATE: Record<string, string[]> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
  Pod: [],
};

function resources(text: string, version: '1.1' | '1.2' = '1.2'): Obj[] {
  return parseAllDocuments(text, { version }).flatMap((doc) => {
    assert.deepEqual(doc.errors, []);
    const js = doc.toJS() as Obj | null;
    if (js === null) return [];
    return js.kind === 'List' ? (js.items as Obj[]) : [js];
  });
}

const names = (list: unknown): string[] => ((list as Obj[] | undefined) ?? []).map((c) => c.name as string);

/** The injected resources, with what inject adds checked and then taken away, equal the input's. */
function checkAsData(input: string, output: string, opts: InjectOptions): void {
  const before = resources(input);
  const after = resources(output);
  const after11 = resources(output, '1.1');
  assert.equal(after.length, before.length);
  after.forEach((res, i) => {
    // Kubernetes reads YAML 1.1: every added string must still be a string there.
    assert.deepEqual(after11[i], res, `resource ${i + 1} reads differently as YAML 1.1`);
    const path = TEMPLATE[res.kind as string];
    if (res.kind === 'Namespace') {
      const ann = (res.metadata as Obj).annotations as Obj | undefined;
      const inject = ann?.['weft.io/inject'] ?? ann?.['linkerd.io/inject'];
      assert.ok(inject !== undefined, 'a namespace is annotated, by weft or by Linkerd');
      if (/(weft|linkerd)\.io\/inject/.test(JSON.stringify(before[i]))) return;
      delete ann?.['weft.io/inject'];
      if (ann && Object.keys(ann).length === 0) delete (res.metadata as Obj).annotations;
    } else if (path) {
      let template = res;
      for (const key of path) template = template[key] as Obj;
      const spec = template.spec as Obj;
      const proxies = [...names(spec.containers), ...names(spec.initContainers)].filter(
        (n) => n === 'weft-proxy',
      );
      const wasInjected = JSON.stringify(before[i]).includes('weft-proxy');
      if (proxies.length > 0 && !wasInjected) stripInjection(template, opts);
      else if (!wasInjected) assert.ok(!JSON.stringify(res).includes('weft-init'));
    }
    assert.deepEqual(res, before[i], `resource ${i + 1} changed beyond the injection`);
  });
}

function stripInjection(template: Obj, opts: InjectOptions): void {
  const spec = template.spec as Obj;
  const init = spec.initContainers as Obj[];
  const containers = spec.containers as Obj[];
  let proxy: Obj;
  let proxyInit: Obj;
  if (opts.nativeSidecar) {
    assert.deepEqual(names(init).slice(0, 2), ['weft-init', 'weft-proxy']);
    assert.ok(!names(containers).includes('weft-proxy'));
    [proxyInit, proxy] = init.splice(0, 2) as [Obj, Obj];
    assert.equal(proxy.restartPolicy, 'Always');
  } else {
    assert.equal(names(containers)[0], 'weft-proxy', 'the proxy is the first container');
    assert.equal(names(init).at(-1), 'weft-init', 'weft-init is the last init container');
    assert.equal(names(init).filter((n) => n === 'weft-init').length, 1);
    proxy = containers.splice(0, 1)[0] as Obj;
    proxyInit = init.splice(init.length - 1, 1)[0] as Obj;
    assert.equal(proxy.restartPolicy, undefined);
  }
  const image = `${opts.proxyImage}:${opts.proxyVersion}`;
  assert.equal(proxy.image, image);
  assert.equal(proxyInit.image, image);
  assert.deepEqual((proxy.args as string[])[0], 'proxy');
  assert.deepEqual((proxyInit.args as string[])[0], 'init');
  for (const e of proxy.env as Obj[]) assert.ok(typeof e.value === 'string' || e.valueFrom !== undefined);
  if (init.length === 0) delete spec.initContainers;
  const volumes = spec.volumes as Obj[];
  assert.deepEqual(
    volumes.filter((v) => v.name === 'weft-init-xtables-lock'),
    [{ name: 'weft-init-xtables-lock', emptyDir: {} }],
  );
  volumes.splice(
    volumes.findIndex((v) => v.name === 'weft-init-xtables-lock'),
    1,
  );
  if (volumes.length === 0) delete spec.volumes;

  const meta = template.metadata as Obj;
  const ann = meta.annotations as Record<string, string>;
  assert.equal(ann['weft.io/proxy-version'], opts.proxyVersion);
  assert.equal(ann['weft.io/created-by'], `weft/cli ${opts.cliVersion}`);
  assert.notEqual(ann['weft.io/inject'], 'disabled');
  const added = (ann['weft.io/added-annotations'] ?? '').split(',').filter((k) => k !== '');
  for (const key of ['weft.io/proxy-version', 'weft.io/created-by', 'weft.io/added-annotations', ...added]) {
    delete ann[key];
  }
  if (Object.keys(ann).length === 0) delete meta.annotations;
  if (Object.keys(meta).length === 0) delete template.metadata;
}
