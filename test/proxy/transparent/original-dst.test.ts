/**
 * The SO_ORIGINAL_DST addon outside interception (the redirected case is tested in real
 * network namespaces: test/proxy-init/interception.test.ts).
 */
import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import {
  loadOriginalDst,
  OriginalDstUnavailable,
  originalDst,
} from '../../../src/proxy/transparent/original-dst.js';
import { LOOPBACK } from '../../helpers/net.js';

test('a connection made straight to a listener has no other original destination', async () => {
  const got = new Promise<ReturnType<typeof originalDst> | 'none'>((resolve) => {
    const server = net.createServer((s) => {
      resolve(originalDst(s) ?? 'none');
      s.destroy();
      server.close();
    });
    server.listen(0, LOOPBACK, () => {
      const c = net.connect((server.address() as net.AddressInfo).port, LOOPBACK);
      c.on('error', () => {});
    });
  });
  assert.equal(await got, 'none');
});

test('the addon refuses a descriptor that is not a socket, and bad arguments', () => {
  const addon = loadOriginalDst();
  const fd = openSync('/dev/null', 'r');
  try {
    assert.throws(() => addon.originalDst(fd), /getsockname: Socket operation on non-socket/);
  } finally {
    closeSync(fd);
  }
  assert.throws(() => addon.originalDst(-1), /fd must be a non-negative integer/);
});

test('an addon that was not built: an error naming the fix', () => {
  assert.throws(
    () => loadOriginalDst('/nonexistent/original_dst.node'),
    (err: unknown) =>
      err instanceof OriginalDstUnavailable &&
      /npm run build:addon/.test(err.message) &&
      /explicit mode works/.test(err.message),
  );
});
