/**
 * The tap client against a tap server in this process (the proxy's own TapServer, with an
 * identity from the real Identity service): events decoded as they come, and the ways an
 * observation ends: the caller's signal, close, and the server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { tapIdentityName } from '../../../src/identity/names.js';
import { Registry } from '../../../src/metrics/registry.js';
import { IdentityClient } from '../../../src/proxy/identity/client.js';
import { tapLayer } from '../../../src/proxy/tap/layer.js';
import { TapRegistry } from '../../../src/proxy/tap/registry.js';
import { TapServer } from '../../../src/proxy/tap/server.js';
import { PeerCache } from '../../../src/proxy/tls/peer.js';
import { decodeTapEvent, observe, type TapEvent, type TapTarget } from '../../../src/viz/tap/client.js';
import { TapIdentity } from '../../../src/viz/tap/identity.js';
import { captureLogger, type IdentityServer, startIdentityServer } from '../../helpers/identity.js';
import { Cleanup, waitFor } from '../../helpers/net.js';
import { FakeExchange } from '../../proxy/tap/fake-exchange.js';

const T = { timeout: 30_000 };

describe('the tap client', () => {
  const cleanup = new Cleanup();
  let idServer: IdentityServer;
  let taps: TapRegistry;
  let server: TapServer;
  let target: TapTarget;
  let tapId: TapIdentity;
  const inbound = (): ((ex: FakeExchange) => void) => tapLayer<FakeExchange>(taps, 'inbound')(() => {});

  before(async () => {
    idServer = await startIdentityServer();
    cleanup.add(() => idServer.close());
    const settings = idServer.workload('web');
    const { log } = captureLogger('warn');
    const registry = new Registry();
    const identity = new IdentityClient({ ...settings, registry, log });
    cleanup.add(() => identity.close());
    await identity.start();
    taps = new TapRegistry({ namespace: 'default', workload: 'web', pod: 'web-1', serviceAccount: 'web' });
    server = new TapServer({ identity, clientIdentity: tapIdentityName(), taps, registry, log });
    cleanup.add(() => server.close());
    const bound = await server.listen({ host: '127.0.0.1', port: 0 });
    target = { address: '127.0.0.1', port: bound.port, identity: settings.name };
    tapId = await TapIdentity.start(idServer.ca);
    cleanup.add(() => tapId.close());
  });

  after(() => cleanup.run());

  test('decodes events as they come; the signal ends the iteration without an error', T, async () => {
    const abort = new AbortController();
    const stream = observe(target, tapId.current, { match: { pathPrefix: '/a' } }, abort.signal);
    await stream.opened;
    assert.equal(server.streamCount, 1);
    const events: TapEvent[] = [];
    const done = (async () => {
      for await (const e of stream) events.push(e);
    })();
    const client = new PeerCache('client_id').get(
      'client.default.serviceaccount.identity.weft.cluster.local',
    );
    const ex = new FakeExchange('PUT', '/a/1?x=1', client);
    inbound()(ex);
    inbound()(new FakeExchange('GET', '/b'));
    ex.responseHead(201);
    ex.responseEnd(201, undefined, false);
    await waitFor(() => events.length === 3, 'three events', 5_000, 5);
    const [req, rsp, end] = events;
    assert.ok(req?.type === 'req' && rsp?.type === 'rsp' && end?.type === 'end');
    assert.deepEqual(
      { method: req.method, authority: req.authority, path: req.path, scheme: req.scheme },
      { method: 'PUT', authority: 'web-svc:80', path: '/a/1', scheme: 'http' },
    );
    assert.equal(req.direction, 'inbound');
    assert.equal(req.tls, true);
    assert.deepEqual(req.sourceMeta, {
      tls: 'true',
      client_id: 'client.default.serviceaccount.identity.weft.cluster.local',
    });
    assert.deepEqual(req.source, { ip: '10.0.0.7', port: 40000 });
    assert.match(req.id, /^\d+:\d+$/);
    assert.equal(rsp.id, req.id);
    assert.equal(rsp.status, 201);
    assert.ok(rsp.latencyMs >= 0);
    assert.equal(end.responseBytes, 0);
    assert.ok(end.durationMs !== undefined && end.sinceRequestMs >= rsp.latencyMs);
    assert.equal(end.grpcStatus, undefined);
    abort.abort();
    await done;
    await waitFor(
      () => server.streamCount === 0 && !taps.active,
      'the server to close the stream',
      5_000,
      10,
    );
  });

  test('close ends the iteration; a signal aborted at the start opens nothing', T, async () => {
    const stream = observe(target, tapId.current);
    await stream.opened;
    const done = (async () => {
      const seen: TapEvent[] = [];
      for await (const e of stream) seen.push(e);
      return seen;
    })();
    stream.close();
    assert.deepEqual(await done, []);
    await waitFor(() => server.streamCount === 0, 'the server to close the stream', 5_000, 10);
    const aborted = AbortSignal.abort();
    const none = observe(target, tapId.current, {}, aborted);
    const seen: TapEvent[] = [];
    for await (const e of none) seen.push(e);
    assert.deepEqual(seen, []);
    assert.equal(server.streamCount, 0);
  });

  test('the server ending the stream ends the iteration', T, async () => {
    const { log } = captureLogger('warn');
    const registry = new Registry();
    const settings = idServer.workload('api');
    const identity = new IdentityClient({ ...settings, registry, log });
    await identity.start();
    const own = new TapServer({
      identity,
      clientIdentity: tapIdentityName(),
      taps: new TapRegistry(),
      registry,
      log,
    });
    const bound = await own.listen({ host: '127.0.0.1', port: 0 });
    const stream = observe(
      { address: '127.0.0.1', port: bound.port, identity: settings.name },
      tapId.current,
    );
    await stream.opened;
    own.close();
    const seen: TapEvent[] = [];
    for await (const e of stream) seen.push(e);
    assert.deepEqual(seen, []);
    identity.close();
  });

  test('decodeTapEvent maps each kind, and a message without an event to nothing', () => {
    const common = {
      id: { base: 7, stream: 9 },
      proxyDirection: 'OUTBOUND' as const,
      source: null,
      destination: { ip: '10.0.0.2', port: 8080 },
      sourceMeta: {},
      destinationMeta: { dst_pod: 'web-1' },
      routeMeta: { rt_route: 'list' },
      tls: true,
    };
    const end = decodeTapEvent({
      ...common,
      event: 'responseEnd',
      responseEnd: {
        sinceRequestInit: { seconds: 1, nanos: 500_000_000 },
        sinceResponseInit: { seconds: 0, nanos: 250_000 },
        responseBytes: 42,
        end: 'grpcStatus',
        grpcStatus: 0,
      },
    });
    assert.deepEqual(end, {
      id: '7:9',
      direction: 'outbound',
      source: undefined,
      destination: { ip: '10.0.0.2', port: 8080 },
      sourceMeta: {},
      destinationMeta: { dst_pod: 'web-1' },
      routeMeta: { rt_route: 'list' },
      tls: true,
      type: 'end',
      durationMs: 0.25,
      sinceRequestMs: 1500,
      responseBytes: 42,
      grpcStatus: 0,
    });
    assert.equal(decodeTapEvent({ ...common }), undefined);
  });
});
