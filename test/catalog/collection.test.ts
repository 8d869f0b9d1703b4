import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type WatchEvent, workloadKey } from '../../src/catalog/catalog.js';
import { WatchableCollection } from '../../src/catalog/collection.js';

interface Thing {
  readonly ns: string;
  readonly name: string;
  readonly v: number;
}

const things = (): WatchableCollection<Thing> =>
  new WatchableCollection<Thing>((t) => ({ namespace: t.ns, name: t.name }));
const show = (e: WatchEvent<Thing>): string =>
  `${e.type} ${e.object.ns}/${e.object.name}@${e.object.v}${e.type === 'modified' ? ` (was @${e.old.v})` : ''}`;

test('put, get, list by namespace, remove and size', () => {
  const c = things();
  const a = { ns: 'x', name: 'a', v: 1 };
  assert.equal(c.put(a), undefined);
  c.put({ ns: 'y', name: 'a', v: 1 });
  c.put({ ns: 'x', name: 'b', v: 1 });
  assert.equal(c.size, 3);
  assert.equal(c.get('x', 'a'), a);
  assert.equal(c.get('y', 'b'), undefined);
  assert.deepEqual(
    c.list('x').map((t) => t.name),
    ['a', 'b'],
  );
  assert.equal(c.list('z').length, 0);
  assert.equal(c.list().length, 3);
  assert.equal(c.put({ ns: 'x', name: 'a', v: 2 }), a);
  assert.equal(c.size, 3);
  assert.equal(c.remove('x', 'a')?.v, 2);
  assert.equal(c.remove('x', 'a'), undefined);
  assert.equal(c.size, 2);
});

test('watch replays current objects as added, synchronously, then tells every change', () => {
  const c = things();
  c.put({ ns: 'x', name: 'a', v: 1 });
  c.put({ ns: 'y', name: 'b', v: 1 });
  const events: string[] = [];
  c.watch((e) => events.push(show(e)));
  assert.deepEqual(events, ['added x/a@1', 'added y/b@1']);
  c.put({ ns: 'x', name: 'c', v: 1 });
  c.put({ ns: 'x', name: 'a', v: 2 });
  c.remove('y', 'b');
  c.remove('y', 'nothing');
  assert.deepEqual(events.slice(2), ['added x/c@1', 'modified x/a@2 (was @1)', 'deleted y/b@1']);
});

test('a watcher sees the change already applied; unsubscribing stops only that watcher', () => {
  const c = things();
  const seen: Array<number | undefined> = [];
  const first: string[] = [];
  const second: string[] = [];
  const stop = c.watch((e) => {
    first.push(show(e));
    seen.push(c.get('x', 'a')?.v);
  });
  c.watch((e) => second.push(show(e)));
  c.put({ ns: 'x', name: 'a', v: 1 });
  c.remove('x', 'a');
  assert.deepEqual(seen, [1, undefined]);
  stop();
  c.put({ ns: 'x', name: 'a', v: 3 });
  assert.deepEqual(first, ['added x/a@1', 'deleted x/a@1']);
  assert.deepEqual(second, ['added x/a@1', 'deleted x/a@1', 'added x/a@3']);
});

test('workloadKey', () => {
  assert.equal(workloadKey('ns', 'pod-1'), 'ns/pod-1');
});
