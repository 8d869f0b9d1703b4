import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { InjectError } from '../../src/inject/errors.js';
import { joinStreams, readInputs } from '../../src/inject/io.js';

const root = mkdtempSync(join(tmpdir(), 'weft-inject-io-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('a directory: its .yaml, .yml and .json files, recursively, in name order', () => {
  const dir = join(root, 'manifests');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  for (const [name, text] of [
    ['b.yaml', 'b'],
    ['a.yml', 'a'],
    ['notes.txt', 'no'],
    ['c.json', '{}'],
    ['sub/d.yaml', 'd'],
  ]) {
    writeFileSync(join(dir, name as string), text as string);
  }
  assert.deepEqual(readInputs([dir]), [
    { name: join(dir, 'a.yml'), text: 'a' },
    { name: join(dir, 'b.yaml'), text: 'b' },
    { name: join(dir, 'c.json'), text: '{}' },
    { name: join(dir, 'sub/d.yaml'), text: 'd' },
  ]);
});

test('a file named directly is read whatever its name; - and no argument mean stdin', () => {
  const file = join(root, 'deploy.txt');
  writeFileSync(file, 'x');
  const stdin = () => 'from stdin';
  assert.deepEqual(readInputs([file, '-'], stdin), [
    { name: file, text: 'x' },
    { name: 'stdin', text: 'from stdin' },
  ]);
  assert.deepEqual(readInputs([], stdin), [{ name: 'stdin', text: 'from stdin' }]);
});

test('a missing path, or a directory with nothing to read, is an error naming it', () => {
  const missing = join(root, 'nope.yaml');
  assert.throws(() => readInputs([missing]), new InjectError(`${missing}: no such file or directory`));
  const empty = join(root, 'empty');
  mkdirSync(empty);
  assert.throws(() => readInputs([empty]), /empty: no \.yaml, \.yml or \.json files in this directory$/);
});

test('several outputs are joined with --- between them', () => {
  assert.equal(joinStreams(['a: 1\n', 'b: 2']), 'a: 1\n---\nb: 2');
  assert.equal(joinStreams(['a: 1', '---\nb: 2\n']), 'a: 1\n---\nb: 2\n');
  assert.equal(joinStreams(['a: 1\n']), 'a: 1\n');
});
