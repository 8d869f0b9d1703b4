/**
 * The text patches: what they keep byte for byte, where they put new lines, and the
 * layouts they cannot patch (then the document is printed from its edited nodes).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { type InjectOptions, injectText } from '../../src/inject/inject.js';
import { uninjectText } from '../../src/inject/uninject.js';

const OPTS: InjectOptions = {
  proxyImage: 'ghcr.io/weft-mesh/weft',
  proxyVersion: '0.1.0',
  cliVersion: '0.1.0',
  nativeSidecar: false,
};
const inject = (text: string, opts: Partial<InjectOptions> = {}) =>
  injectText(text, 'test.yaml', { ...OPTS, ...opts }).output;
const uninject = (text: string) => uninjectText(text, 'test.yaml').output;

const pod = (spec: string, meta = '  name: web\n') =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n${meta}spec:\n${spec}`;
const js = (text: string): unknown[] => parseAllDocuments(text).map((d) => d.toJS());
const podSpec = (text: string) => (js(text)[0] as { spec: Record<string, unknown> }).spec;
const names = (list: unknown) => (list as Array<{ name: string }>).map((c) => c.name);

test('CRLF line endings stay CRLF, new lines included, and come back out', () => {
  const input = pod('  containers:\n  - name: app\n    image: nginx\n').replace(/\n/g, '\r\n');
  const out = inject(input);
  assert.doesNotMatch(out.replace(/\r\n/g, ''), /\n/, 'a bare LF');
  assert.deepEqual(names(podSpec(out).containers), ['weft-proxy', 'app']);
  assert.equal(uninject(out), input);
});

test('what yaml would re-print differently is kept: comment spacing, folded text, number formats', () => {
  const input = pod(
    [
      '  terminationGracePeriodSeconds: 0x1E     # hex, oddly',
      '  containers:',
      '  - name: app',
      '    image: nginx',
      '    env:',
      '    - name: GREETING',
      '      value: >',
      '        hello',
      '        world',
      '    - {name: PORT,   value: "0080"}',
      '',
    ].join('\n'),
  );
  const out = inject(input);
  for (const line of input.split('\n')) assert.ok(out.includes(line), `lost: ${JSON.stringify(line)}`);
  assert.equal(uninject(out), input);
});

test('the proxy goes in right after the containers key, above comments about the first container', () => {
  const input = pod('  containers: # what runs\n  # the application\n  - name: app\n    image: nginx\n');
  const out = inject(input);
  assert.match(out, /containers: # what runs\n {2}- name: weft-proxy\n/);
  assert.match(out, /\n {2}# the application\n {2}- name: app\n/);
  assert.equal(uninject(out), input);
});

test('an item added to a list that ends where the pod spec ends stays in that list', () => {
  for (const volumes of [
    '  volumes:\n  - name: data\n    emptyDir: {}\n',
    '  volumes:\n    - name: data\n      emptyDir: {}\n',
  ]) {
    const input = pod(`  containers:\n  - name: app\n    image: nginx\n${volumes}`);
    const spec = podSpec(inject(input));
    assert.deepEqual(names(spec.volumes), ['data', 'weft-init-xtables-lock']);
    assert.deepEqual(names(spec.initContainers), ['weft-init']);
  }
});

test('a stream with no final newline gets none', () => {
  const input = pod('  containers:\n  - name: app\n    image: nginx');
  const out = inject(input);
  assert.ok(!out.endsWith('\n'));
  assert.equal(uninject(out), input);
});

test('empty annotations, initContainers and volumes ({}, [], or no value) become block collections', () => {
  const input = pod(
    '  initContainers: []\n  containers:\n  - name: app\n    image: nginx\n  volumes:\n',
    '  name: web\n  annotations: {}\n',
  );
  const out = inject(input);
  assert.match(out, /\n {2}annotations:\n {4}weft\.io\/inject: enabled\n/);
  assert.match(out, /\n {2}initContainers:\n {2}- name: weft-init\n/);
  assert.match(out, /\n {2}volumes:\n {2}- name: weft-init-xtables-lock\n/);
  const spec = podSpec(out);
  assert.deepEqual(names(spec.initContainers), ['weft-init']);
  // What uninject cannot know was there: empty collections go with their keys.
  assert.equal(uninject(out), pod('  containers:\n  - name: app\n    image: nginx\n'));
});

test('flow collections that get new content become block collections; the rest stays flow', () => {
  const out = inject(pod('  containers: [{name: app, image: nginx, args: [a, b]}]\n'));
  const spec = podSpec(out);
  assert.deepEqual(names(spec.containers), ['weft-proxy', 'app']);
  assert.match(out, /\n {2}- \{name: app, image: nginx, args: \[a, b\]\}\n/);
  assert.doesNotMatch(out, /\{ name: weft-proxy/);
});

test('JSON in, JSON out, in its indentation (kubectl get -o json: four spaces, a List)', () => {
  const deployment = (name: string) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'library' },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name, image: `ghcr.io/example/${name}:1.0.3` }] },
      },
    },
  });
  for (const [value, indent] of [
    [deployment('authors'), 2],
    [{ apiVersion: 'v1', kind: 'List', items: [deployment('authors'), deployment('books')] }, 4],
  ] as const) {
    const input = `${JSON.stringify(value, null, indent)}\n`;
    const out = inject(input);
    const parsed = JSON.parse(out) as Record<string, unknown>;
    const items = (parsed.items ?? [parsed]) as Array<{
      spec: { template: { spec: Record<string, unknown> } };
    }>;
    for (const item of items) {
      assert.deepEqual(names(item.spec.template.spec.containers).slice(0, 1), ['weft-proxy']);
      assert.deepEqual(names(item.spec.template.spec.initContainers), ['weft-init']);
    }
    assert.ok(out.startsWith(`{\n${' '.repeat(indent)}"apiVersion"`));
    assert.equal(inject(out), out);
    assert.equal(uninject(out), input);
  }
});

test('documents around a changed one are copied byte for byte, separators and comments included', () => {
  const other =
    '# a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}   # odd\ndata:\n  k: >\n    folded\n    text\n';
  const input = `${other}---\n${pod('  containers:\n  - name: app\n    image: nginx\n')}...\n---\n${other}`;
  const out = inject(input);
  assert.ok(out.startsWith(`${other}---\n`));
  assert.ok(out.endsWith(`...\n---\n${other}`));
  assert.equal(uninject(out), input);
});

test('anchors and aliases in the application are left alone', () => {
  const input = pod(
    '  containers:\n  - name: a\n    image: x\n    env: &env\n    - {name: K, value: v}\n  - name: b\n    image: x\n    env: *env\n',
  );
  const out = inject(input);
  assert.match(out, /env: &env\n/);
  assert.match(out, /env: \*env\n/);
  assert.equal(uninject(out), input);
});

test('native sidecar: weft-init and the proxy go first among the init containers', () => {
  const input = pod(
    '  initContainers:\n  - name: migrate\n    image: m\n  containers:\n  - name: app\n    image: nginx\n',
  );
  const spec = podSpec(inject(input, { nativeSidecar: true }));
  assert.deepEqual(names(spec.initContainers), ['weft-init', 'weft-proxy', 'migrate']);
  assert.deepEqual(names(spec.containers), ['app']);
  const proxy = (spec.initContainers as Array<Record<string, unknown>>)[1] as Record<string, unknown>;
  assert.equal(proxy.restartPolicy, 'Always');
  assert.ok(proxy.startupProbe);
});

test('--proxy-image and --proxy-version make the image and the version annotation', () => {
  const out = inject(pod('  containers:\n  - name: app\n    image: nginx\n'), {
    proxyImage: 'registry.local/weft',
    proxyVersion: 'dev-1',
  });
  assert.equal((out.match(/image: registry\.local\/weft:dev-1\n/g) ?? []).length, 2);
  assert.match(out, /weft\.io\/proxy-version: dev-1\n/);
  assert.match(out, /weft\.io\/created-by: weft\/cli 0\.1\.0\n/);
});

test('a log level that YAML 1.1 reads as a boolean is quoted', () => {
  const out = inject(
    pod(
      '  containers:\n  - name: app\n    image: nginx\n',
      '  name: web\n  annotations:\n    config.weft.io/proxy-log-level: "off"\n',
    ),
  );
  assert.match(out, /- name: WEFT_PROXY_LOG\n +value: "off"\n/);
});

test('uninject takes out only what inject added', () => {
  const input = pod(
    '  containers:\n  - name: app\n    image: nginx\n',
    '  name: web\n  annotations:\n    weft.io/inject: enabled\n    team: search\n',
  );
  const out = inject(input);
  assert.match(out, /weft\.io\/added-annotations: kubectl\.kubernetes\.io\/default-container\n/);
  assert.equal(uninject(out), input);
  // A namespace: inject adds the annotation, uninject takes it away.
  const ns = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n';
  assert.equal(inject(ns), `${ns}  annotations:\n    weft.io/inject: enabled\n`);
  assert.equal(uninject(inject(ns)), ns);
});
