/**
 * The tap layer and the pieces it reads, without sockets: nothing is observed (or
 * counted) while no tap is open; the match trees; the token bucket; and the events one
 * tapped exchange produces.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TapEventMessage, TapMatchMessage } from '../../../src/grpc/protos.js';
import type { Exchange } from '../../../src/proxy/http/exchange.js';
import { countingWriter, tapLayer } from '../../../src/proxy/tap/layer.js';
import { compileMatch, MATCH_LIMITS, MatchError, type TapSubject } from '../../../src/proxy/tap/match.js';
import { Tap, TapRegistry, TokenBucket } from '../../../src/proxy/tap/registry.js';
import { FakeExchange } from './fake-exchange.js';

const passThrough = (seen: Exchange[]) => (ex: Exchange) => {
  seen.push(ex);
};

describe('the tap layer', () => {
  test('with no tap open it adds no observer, counts nothing, and passes the exchange on', () => {
    const taps = new TapRegistry();
    const seen: Exchange[] = [];
    const service = tapLayer(taps, 'inbound')(passThrough(seen));
    const ex = new FakeExchange();
    service(ex);
    assert.deepEqual(seen, [ex]);
    assert.equal(ex.observerCount, 0);
    assert.equal(ex.responseBytes, undefined, 'the leaves count no bytes');
    assert.equal(taps.active, false);
  });

  test('with a tap open, only the requests it matches and admits are observed', () => {
    const taps = new TapRegistry({
      namespace: 'default',
      workload: 'web',
      pod: 'web-1',
      serviceAccount: 'web',
    });
    const events: TapEventMessage[] = [];
    const close = taps.add(
      new Tap(compileMatch({ http: { pathPrefix: '/yes' } }), new TokenBucket(2), (e) => events.push(e)),
    );
    assert.equal(taps.active, true);
    const service = tapLayer(taps, 'inbound')(() => {});

    const no = new FakeExchange('GET', '/no');
    service(no);
    assert.equal(no.observerCount, 0);
    assert.equal(no.responseBytes, undefined);

    const yes = new FakeExchange('POST', '/yes/1?secret=1');
    service(yes);
    assert.equal(yes.observerCount, 1);
    assert.equal(yes.responseBytes, 0, 'the leaves count this one');
    assert.equal(events.length, 1);
    const req = events[0] as TapEventMessage;
    assert.deepEqual(req.requestInit, {
      method: 'POST',
      scheme: 'http',
      authority: 'web-svc:80',
      path: '/yes/1',
    });
    assert.equal(req.proxyDirection, 'INBOUND');
    assert.deepEqual(req.source, { ip: '10.0.0.7', port: 40000 });
    assert.deepEqual(req.destination, { ip: '10.0.0.9', port: 4143 });
    assert.equal(req.tls, false);
    assert.deepEqual(req.destinationMeta, {
      dst_namespace: 'default',
      dst_deployment: 'web',
      dst_pod: 'web-1',
      dst_serviceaccount: 'web',
    });

    // The response: headers, a body the leaf counts, the end.
    yes.responseHead(200);
    const write = countingWriter(yes, () => true);
    write(Buffer.alloc(100));
    write(Buffer.alloc(23));
    yes.responseEnd(200, 0, false);
    assert.deepEqual(
      events.map((e) => (e.requestInit ? 'req' : e.responseInit ? 'rsp' : 'end')),
      ['req', 'rsp', 'end'],
    );
    assert.equal(events[1]?.responseInit?.httpStatus, 200);
    const end = events[2]?.responseEnd;
    assert.equal(end?.responseBytes, 123);
    assert.equal(end?.grpcStatus, 0);
    assert.ok(end?.sinceResponseInit);
    for (const e of events) assert.deepEqual(e.id, req.id);

    // Two tokens: the bucket admitted one; one more, then none.
    const second = new FakeExchange('GET', '/yes/2');
    service(second);
    assert.equal(second.observerCount, 1);
    const third = new FakeExchange('GET', '/yes/3');
    service(third);
    assert.equal(third.observerCount, 0, 'the bucket is empty');
    assert.equal(third.responseBytes, undefined);

    close();
    assert.equal(taps.active, false);
    const after = new FakeExchange('GET', '/yes/4');
    service(after);
    assert.equal(after.observerCount, 0);
  });

  test('a failed response ends with a reset error, a cancelled one with CANCEL', () => {
    const taps = new TapRegistry();
    const events: TapEventMessage[] = [];
    taps.add(new Tap(compileMatch(undefined), new TokenBucket(10), (e) => events.push(e)));
    const service = tapLayer(taps, 'outbound')(() => {});
    const failed = new FakeExchange();
    service(failed);
    failed.responseHead(200);
    failed.responseEnd(200, undefined, true);
    assert.equal(events.at(-1)?.responseEnd?.resetError, 2);
    const cancelled = new FakeExchange();
    service(cancelled);
    cancelled.clientCancelled(0);
    const end = events.at(-1)?.responseEnd;
    assert.equal(end?.resetError, 8);
    assert.equal(end?.sinceResponseInit, null, 'no headers were sent');
    assert.equal(events.at(-1)?.proxyDirection, 'OUTBOUND');
  });
});

describe('match trees', () => {
  const subject = (over: Partial<TapSubject> = {}): TapSubject => ({
    method: 'GET',
    scheme: 'http',
    authority: 'web-svc:80',
    path: '/api/list',
    sourceMeta: { tls: 'true', client_id: 'a' },
    destinationMeta: { dst_deployment: 'web', dst_pod: 'web-1' },
    routeMeta: { rt_route: 'list' },
    ...over,
  });
  const matches = (m: TapMatchMessage | undefined, s = subject()): boolean => compileMatch(m)(s);

  test('each kind of match', () => {
    assert.equal(matches(undefined), true);
    assert.equal(matches({}), true);
    assert.equal(matches({ http: { method: 'GET' } }), true);
    assert.equal(matches({ http: { method: 'POST' } }), false);
    assert.equal(matches({ http: { authority: 'WEB-svc:80' } }), true);
    assert.equal(matches({ http: { authority: 'web-svc' } }), false);
    assert.equal(matches({ http: { pathPrefix: '/api/' } }), true);
    assert.equal(matches({ http: { pathPrefix: '/apix' } }), false);
    assert.equal(matches({ http: { scheme: 'HTTP' } }), true);
    assert.equal(matches({ http: { scheme: 'https' } }), false);
    assert.equal(matches({ destinationLabel: { key: 'dst_deployment', value: 'web' } }), true);
    assert.equal(matches({ destinationLabel: { key: 'dst_deployment', value: 'api' } }), false);
    assert.equal(matches({ sourceLabel: { key: 'client_id', value: 'a' } }), true);
    assert.equal(matches({ sourceLabel: { key: 'dst_deployment', value: 'web' } }), false);
    assert.equal(matches({ routeLabel: { key: 'rt_route', value: 'list' } }), true);
    assert.equal(matches({ routeLabel: { key: 'rt_route', value: 'get' } }), false);
  });

  test('all, any and not', () => {
    const get = { http: { method: 'GET' } };
    const post = { http: { method: 'POST' } };
    assert.equal(matches({ all: { matches: [get, { http: { pathPrefix: '/api' } }] } }), true);
    assert.equal(matches({ all: { matches: [get, post] } }), false);
    assert.equal(matches({ any: { matches: [get, post] } }), true);
    assert.equal(matches({ any: { matches: [post] } }), false);
    assert.equal(matches({ not: post }), true);
    assert.equal(matches({ not: get }), false);
    assert.equal(matches({ all: { matches: [] } }), true);
    assert.equal(matches({ any: { matches: [] } }), false);
  });

  test('trees beyond the limits, and labels without keys, are refused', () => {
    let deep: TapMatchMessage = { http: { method: 'GET' } };
    for (let i = 0; i < MATCH_LIMITS.depth + 1; i++) deep = { not: deep };
    assert.throws(() => compileMatch(deep), MatchError);
    const wide: TapMatchMessage = {
      any: { matches: Array.from({ length: MATCH_LIMITS.nodes }, () => ({ http: { method: 'GET' } })) },
    };
    assert.throws(() => compileMatch(wide), /more than 64 nodes/);
    assert.throws(
      () => compileMatch({ http: { pathPrefix: 'x'.repeat(MATCH_LIMITS.text + 1) } }),
      /path prefix/,
    );
    assert.throws(() => compileMatch({ destinationLabel: { key: '', value: 'web' } }), /has no key/);
  });
});

describe('the token bucket', () => {
  test('holds one second of tokens and refills at its rate', () => {
    const b = new TokenBucket(5, 0);
    let admitted = 0;
    for (let i = 0; i < 20; i++) if (b.take(0)) admitted++;
    assert.equal(admitted, 5);
    assert.equal(b.take(100), false, 'half a token after 100 ms');
    assert.equal(b.take(200), true, 'a whole one after 200 ms');
    assert.equal(b.take(200), false);
    // Never more than a second's worth, however long it waited.
    admitted = 0;
    for (let i = 0; i < 20; i++) if (b.take(60_000)) admitted++;
    assert.equal(admitted, 5);
  });
});
