import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ManifestError, parseManifest, readManifests, resolveWorkingDirs } from '../../src/cli/manifests.js';

const root = mkdtempSync(join(tmpdir(), 'weft-manifests-'));
after(() => rmSync(root, { recursive: true, force: true }));

const doc = (name: string): string => `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n`;
const names = (docs: ReturnType<typeof parseManifest>): unknown[] =>
  docs.map((d) => (d.value as { metadata?: { name?: string } }).metadata?.name);

test('one document is named by its source alone', () => {
  assert.deepEqual(parseManifest(doc('web'), 'svc.yaml'), [
    { source: 'svc.yaml', value: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' } } },
  ]);
});

test('several documents are numbered, counting empty ones, which are skipped', () => {
  const docs = parseManifest(`---\n${doc('a')}---\n---\n${doc('b')}\n---\n# only a comment\n`, 'm.yaml');
  assert.deepEqual(
    docs.map((d) => d.source),
    ['m.yaml, document 1', 'm.yaml, document 3'],
  );
  assert.deepEqual(names(docs), ['a', 'b']);
  assert.deepEqual(parseManifest('', 'e.yaml'), []);
  assert.deepEqual(parseManifest('---\n---\n', 'e.yaml'), []);
});

test('non-mapping documents are kept, for validation to refuse by source', () => {
  assert.deepEqual(parseManifest('hello\n---\n- 1\n', 'x.yaml'), [
    { source: 'x.yaml, document 1', value: 'hello' },
    { source: 'x.yaml, document 2', value: [1] },
  ]);
});

test('JSON is YAML', () => {
  assert.deepEqual(names(parseManifest('{"kind":"Service","metadata":{"name":"j"}}', 'x.json')), ['j']);
});

test('a List contributes its items, each named', () => {
  const text = `apiVersion: v1\nkind: List\nitems:\n- ${doc('a').trimEnd().replace(/\n/g, '\n  ')}\n- ${doc('b').trimEnd().replace(/\n/g, '\n  ')}\n`;
  const docs = parseManifest(`${doc('first')}---\n${text}`, 'l.yaml');
  assert.deepEqual(
    docs.map((d) => d.source),
    ['l.yaml, document 1', 'l.yaml, document 2, item 1', 'l.yaml, document 2, item 2'],
  );
  assert.deepEqual(names(docs), ['first', 'a', 'b']);
  assert.deepEqual(parseManifest('kind: List\nitems: []\n', 'l.yaml'), []);
  // A List without a list of items is passed on as it is.
  assert.deepEqual(parseManifest('kind: List\nitems: 3\n', 'l.yaml'), [
    { source: 'l.yaml', value: { kind: 'List', items: 3 } },
  ]);
});

test('a YAML error names the source, document and line', () => {
  assert.throws(
    () => parseManifest('a: 1\nb: [\n', 'bad.yaml'),
    (err: unknown) => err instanceof ManifestError && /^bad\.yaml: line 3, column 1: \S/.test(err.message),
  );
  assert.throws(
    () => parseManifest(`${doc('ok')}---\nfoo: : bar\n`, 'bad.yaml'),
    (err: unknown) =>
      err instanceof ManifestError && err.message.startsWith('bad.yaml, document 2: line 6, column 6: '),
  );
  // Duplicate keys are an error, not a silent overwrite; the message is one line.
  assert.throws(
    () => parseManifest('a: 1\na: 2\n', 'dup.yaml'),
    (err: unknown) =>
      err instanceof ManifestError && err.message === 'dup.yaml: line 2, column 1: Map keys must be unique',
  );
});

test('readManifests reads files in order and directories sorted, only .yaml/.yml/.json', () => {
  const dir = join(root, 'dir');
  mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(dir, 'b.yml'), doc('b'));
  writeFileSync(join(dir, 'a.yaml'), doc('a'));
  writeFileSync(join(dir, 'c.json'), JSON.stringify({ kind: 'Service', metadata: { name: 'c' } }));
  writeFileSync(join(dir, 'D.YAML'), doc('d'));
  writeFileSync(join(dir, 'notes.txt'), doc('txt'));
  writeFileSync(join(dir, 'README.md'), '# hi');
  writeFileSync(join(dir, 'sub', 'x.yaml'), doc('x'));
  writeFileSync(join(dir, 'sub', 'deeper', 'y.yaml'), doc('y'));
  const flat = readManifests([dir], false);
  assert.deepEqual(names(flat), ['d', 'a', 'b', 'c']);
  assert.deepEqual(
    flat.map((d) => d.source),
    ['D.YAML', 'a.yaml', 'b.yml', 'c.json'].map((f) => join(dir, f)),
  );
  assert.deepEqual(names(readManifests([dir], true)), ['d', 'a', 'b', 'c', 'y', 'x']);
  // A file named directly is read whatever its extension; arguments keep their order.
  assert.deepEqual(names(readManifests([join(dir, 'notes.txt'), join(dir, 'sub', 'x.yaml')], false)), [
    'txt',
    'x',
  ]);
});

test('readManifests: missing files and empty input are errors naming the path', () => {
  const missing = join(root, 'nope.yaml');
  assert.throws(() => readManifests([missing], false), {
    name: 'Error',
    message: `${missing}: no such file or directory`,
  });
  assert.throws(() => readManifests([missing], false), ManifestError);
  const empty = join(root, 'empty');
  mkdirSync(empty);
  writeFileSync(join(empty, 'blank.yaml'), '---\n');
  assert.throws(() => readManifests([empty], true), {
    message: `no resources found in ${empty}`,
  });
  const broken = join(root, 'broken.yaml');
  writeFileSync(broken, 'a: [\n');
  assert.throws(
    () => readManifests([broken], false),
    (err: unknown) => {
      return err instanceof ManifestError && err.message.startsWith(`${broken}: line `);
    },
  );
});

test("a Deployment's containers run in the manifest's directory; a relative workingDir is taken from there", () => {
  const doc = (workingDir?: unknown) => ({
    kind: 'Deployment',
    spec: {
      template: {
        spec: { containers: [{ name: 'a', ...(workingDir !== undefined ? { workingDir } : {}) }] },
      },
    },
  });
  const dirOf = (d: ReturnType<typeof doc>): unknown =>
    (d.spec.template.spec.containers[0] as { workingDir?: unknown }).workingDir;
  const cases: Array<[unknown, unknown]> = [
    [undefined, '/srv/app'],
    ['bin', '/srv/app/bin'],
    ['../lib', '/srv/lib'],
    ['/opt/x', '/opt/x'],
    // Left for validation to name.
    [3, 3],
  ];
  for (const [given, expected] of cases) {
    const d = doc(given);
    resolveWorkingDirs(d, '/srv/app');
    assert.equal(dirOf(d), expected, String(given));
  }
  const service = { kind: 'Service', spec: { template: { spec: { containers: [{}] } } } };
  resolveWorkingDirs(service, '/srv/app');
  assert.deepEqual(service.spec.template.spec.containers[0], {});
  for (const odd of [
    null,
    3,
    { kind: 'Deployment' },
    { kind: 'Deployment', spec: { template: { spec: { containers: {} } } } },
  ])
    resolveWorkingDirs(odd, '/srv');
});

test('a billion-laughs document is refused by its source, its aliases bounded (not expanded)', () => {
  const lines = ['kind: Service', 'metadata:', '  name: lol', '  annotations:', '    l0: &l0 "lol"'];
  for (let i = 1; i <= 9; i++)
    lines.push(
      `    l${i}: &l${i} [${Array(9)
        .fill(`*l${i - 1}`)
        .join(', ')}]`,
    );
  assert.throws(() => parseManifest(lines.join('\n'), 'laughs.yaml'), {
    message:
      'laughs.yaml: more than 100 aliases (a YAML bomb?): Excessive alias count indicates a resource exhaustion attack',
  });
  assert.throws(() => parseManifest(lines.join('\n'), 'laughs.yaml'), ManifestError);
  // A few aliases are fine.
  assert.deepEqual(names(parseManifest('a: &a x\nb: *a\nmetadata: { name: ok }\n', 'ok.yaml')), ['ok']);
});
