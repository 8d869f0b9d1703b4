import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import { test } from 'node:test';
import { ReplayBody } from '../../../src/proxy/http/replay-body.js';

/** Everything a stream gives until it ends. */
async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

/** The next chunk a stream gives, through its async iterator (so nothing is dropped in between). */
async function next(it: AsyncIterator<unknown>): Promise<string> {
  const r = await it.next();
  assert.equal(r.done, false, 'the stream ended');
  return Buffer.from(r.value as Buffer).toString();
}

/** Lets queued stream callbacks run (no timers). */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('the first attempt gets the body as it streams', async () => {
  const source = new PassThrough();
  const replay = new ReplayBody(source, 1024);
  const body = replay.attempt();
  const it = body[Symbol.asyncIterator]();
  source.write('hello ');
  // It arrives before the source ends.
  assert.equal(await next(it), 'hello ');
  source.write('world');
  assert.equal(await next(it), 'world');
  source.end();
  assert.equal((await it.next()).done, true);
  assert.equal(replay.replayable, true);
});

test('an attempt after the end gets the whole body again, and ends', async () => {
  const source = new PassThrough();
  const replay = new ReplayBody(source, 1024);
  const first = replay.attempt();
  source.write('abc');
  source.write('def');
  source.end('ghi');
  assert.equal((await collect(first)).toString(), 'abcdefghi');
  const second = replay.attempt();
  assert.equal((await collect(second)).toString(), 'abcdefghi');
  const third = replay.attempt();
  assert.equal((await collect(third)).toString(), 'abcdefghi');
  assert.equal(replay.replayable, true);
});

test('an attempt made mid-way gets what arrived so far, then the rest; the previous one is dropped', async () => {
  const source = new PassThrough();
  const replay = new ReplayBody(source, 1024);
  const first = replay.attempt();
  const it = first[Symbol.asyncIterator]();
  source.write('abc');
  assert.equal(await next(it), 'abc');
  source.write('def');
  assert.equal(await next(it), 'def');
  const second = replay.attempt();
  assert.equal(first.destroyed, true);
  const done = collect(second);
  source.write('ghi');
  source.end('jkl');
  assert.equal((await done).toString(), 'abcdefghijkl');
  // And once more after the end.
  assert.equal((await collect(replay.attempt())).toString(), 'abcdefghijkl');
});

test('a body of exactly the limit stays replayable', async () => {
  const source = new PassThrough();
  const replay = new ReplayBody(source, 4);
  const first = replay.attempt();
  source.end('abcd');
  assert.equal((await collect(first)).toString(), 'abcd');
  assert.equal(replay.replayable, true);
  assert.equal((await collect(replay.attempt())).toString(), 'abcd');
});

test('past the limit the body is no longer replayable, but the current attempt still gets every byte', async () => {
  const source = new PassThrough();
  const replay = new ReplayBody(source, 4);
  const body = replay.attempt();
  const it = body[Symbol.asyncIterator]();
  source.write('abc');
  assert.equal(await next(it), 'abc');
  assert.equal(replay.replayable, true);
  source.write('de');
  assert.equal(await next(it), 'de');
  assert.equal(replay.replayable, false);
  source.write('fg');
  assert.equal(await next(it), 'fg');
  source.end('h');
  assert.equal(await next(it), 'h');
  assert.equal((await it.next()).done, true);
  assert.equal(replay.replayable, false);
});

/** A source of `total` random bytes written in `chunk`-byte pieces, honouring its back-pressure. */
function feed(source: PassThrough, total: number, chunk: number): { data: Buffer; done: Promise<void> } {
  const data = randomBytes(total);
  const done = (async () => {
    for (let at = 0; at < total; at += chunk) {
      if (!source.write(data.subarray(at, at + chunk))) await once(source, 'drain');
    }
    source.end();
  })();
  return { data, done };
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

test('a slow reader holds the source back, and still gets the whole body intact', {
  timeout: 30_000,
}, async () => {
  const source = new PassThrough();
  let pauses = 0;
  const pause = source.pause.bind(source);
  source.pause = () => {
    pauses++;
    return pause();
  };
  const replay = new ReplayBody(source, 64 * 1024);
  const body = replay.attempt();
  const total = 1024 * 1024;
  const { data, done } = feed(source, total, 16 * 1024);
  const hash = createHash('sha256');
  let length = 0;
  let maxBuffered = 0;
  for await (const chunk of body) {
    hash.update(chunk as Buffer);
    length += (chunk as Buffer).length;
    // Slow: a few turns of the event loop for every chunk.
    await turn();
    await turn();
    await turn();
    // Both sides of the attempt's PassThrough.
    const writable = (body as Partial<PassThrough>).writableLength ?? 0;
    maxBuffered = Math.max(maxBuffered, body.readableLength + writable);
  }
  await done;
  assert.equal(length, total);
  assert.equal(hash.digest('hex'), sha256(data));
  assert.ok(pauses > 0, 'the source was never paused');
  // Held back: the attempt never buffered more than a few chunks, not the megabyte.
  assert.ok(maxBuffered <= 128 * 1024, `the attempt buffered ${maxBuffered} bytes`);
  assert.equal(replay.replayable, false);
});

test('a new attempt is not held by the back-pressure of the one it replaces', {
  timeout: 30_000,
}, async () => {
  const source = new PassThrough();
  const paused = new Promise<void>((resolve) => {
    const pause = source.pause.bind(source);
    source.pause = () => {
      resolve();
      return pause();
    };
  });
  const total = 256 * 1024;
  const replay = new ReplayBody(source, total);
  // Nobody reads the first attempt: the source stops.
  replay.attempt();
  const { data, done } = feed(source, total, 16 * 1024);
  await paused;
  assert.equal(source.isPaused(), true);
  const second = replay.attempt();
  const received = await collect(second);
  await done;
  assert.equal(received.length, total);
  assert.equal(sha256(received), sha256(data));
  assert.equal(replay.replayable, true);
});

test('a body the client aborts fails the attempt in flight, and any later one', async () => {
  const source = new PassThrough();
  const replay = new ReplayBody(source, 1024);
  const body = replay.attempt();
  source.write('ab');
  source.destroy();
  await assert.rejects(collect(body), /the request body was aborted/);
  await assert.rejects(collect(replay.attempt()), /the request body was aborted/);
});
