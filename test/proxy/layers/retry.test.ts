/**
 * The retry layer through real stacks: a request retried many times, on a route marked
 * retryable, costs its client's response one listener, not one per attempt; and the
 * test helpers fail on the warning that would say otherwise.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, test } from 'node:test';
import type { DestinationClient } from '../../../src/proxy/discovery/destination.js';
import { ProfileWatch } from '../../../src/proxy/discovery/profile-watch.js';
import { startEchoApp } from '../../helpers/apps.js';
import { failOnLeakWarning } from '../../helpers/fail-on-warnings.js';
import { captureLogger } from '../../helpers/identity.js';
import { Cleanup, LOOPBACK, RawConn } from '../../helpers/net.js';
import { AUTHORITY, closeSide, oneEndpoint, side } from '../../helpers/stacks.js';

const T = { timeout: 30_000 };
const cleanup = new Cleanup();
after(() => cleanup.run());

/** Discovery naming the app as AUTHORITY's one endpoint, with every route retryable on 5xx. */
function retryingDiscovery(port: number): DestinationClient {
  const watch = new ProfileWatch(AUTHORITY, captureLogger('warn').log);
  watch.update({
    fullyQualifiedName: 'web.default.svc.cluster.local',
    opaqueProtocol: false,
    routes: [
      {
        name: 'everything',
        condition: { match: 'pathRegex', pathRegex: '.*' },
        responseClasses: [
          { condition: { match: 'status', status: { min: 500, max: 599 } }, isFailure: true },
        ],
        isRetryable: true,
        timeoutMs: 0,
        backends: [],
      },
    ],
    // Enough budget for many retries of one request.
    retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 50, ttlMs: 10_000 },
    dstOverrides: [],
    source: 'test',
    rejectUnmatched: false,
  });
  const discovery = oneEndpoint({ host: LOOPBACK, port }, undefined);
  return { resolve: discovery.resolve.bind(discovery), profile: () => watch } as unknown as DestinationClient;
}

test(
  'a request retried many times adds no listener per attempt to its response (no MaxListenersExceededWarning)',
  T,
  async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    cleanup.add(() => process.off('warning', onWarning));
    const app = await startEchoApp();
    cleanup.add(() => app.close());
    const outbound = await side(
      'outbound',
      undefined,
      { host: LOOPBACK, port: 0 },
      retryingDiscovery(app.port),
    );
    cleanup.add(() => closeSide(outbound));

    const c = await RawConn.connect(outbound.addr.port);
    cleanup.add(() => c.destroy());
    c.write(`GET /fails HTTP/1.1\r\nHost: ${AUTHORITY}\r\nx-status: 503\r\n\r\n`);
    const res = await c.readResponse();
    assert.equal(res.statusCode, 503);
    assert.ok(app.requests > 11, `the request was retried more than 10 times (${app.requests} attempts)`);
    // Warnings are emitted on the next tick.
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message),
      [],
    );
  },
);

test(
  "a child process's MaxListenersExceededWarning on stderr fails the test that started it",
  T,
  async () => {
    // Node's own report of the warning, from a real child, as the weft helpers read it.
    const child = spawnSync(
      process.execPath,
      ['-e', "const e = new (require('node:events'))(); for (let i = 0; i < 11; i++) e.on('x', () => {});"],
      { encoding: 'utf8' },
    );
    const lines = child.stderr.split('\n');
    assert.throws(() => {
      for (const line of lines) failOnLeakWarning(line, 'the child');
    }, /the child emitted a MaxListenersExceededWarning/);
    assert.doesNotThrow(() => failOnLeakWarning('(node:1) ExperimentalWarning: something', 'the child'));
  },
);
