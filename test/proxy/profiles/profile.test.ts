import assert from 'node:assert/strict';
import { test } from 'node:test';
import type {
  DestinationProfile,
  RequestMatchMessage,
  ResponseClassMessage,
  ResponseMatchMessage,
  RouteMessage,
} from '../../../src/grpc/protos.js';
import type { Exchange } from '../../../src/proxy/http/exchange.js';
import {
  CompiledRoute,
  Profile,
  requestTest,
  responseTest,
  WeightedSplit,
} from '../../../src/proxy/profiles/profile.js';

/** The header names the code asked an exchange for, across the test file. */
const askedHeaders: string[] = [];

/** A request as the profile code reads one: method, path (with its query) and headers (lower-case names). */
function exchange(method: string, path: string, headers: Record<string, string> = {}): Exchange {
  return {
    method,
    path,
    requestHeader: (name: string) => {
      askedHeaders.push(name);
      return Object.hasOwn(headers, name) ? headers[name] : undefined;
    },
  } as unknown as Exchange;
}

/** Whether `m` holds for a request (path given with its query; the test strips it as Profile does). */
function holds(m: RequestMatchMessage, ex: Exchange): boolean {
  const q = ex.path.indexOf('?');
  return requestTest(m)(ex, q < 0 ? ex.path : ex.path.slice(0, q));
}

const get = (path: string, headers?: Record<string, string>): Exchange => exchange('GET', path, headers);

const path = (pathRegex: string): RequestMatchMessage => ({ match: 'pathRegex', pathRegex });
const method = (m: string): RequestMatchMessage => ({ match: 'method', method: m });
const all = (...matches: RequestMatchMessage[]): RequestMatchMessage => ({ match: 'all', all: { matches } });
const any = (...matches: RequestMatchMessage[]): RequestMatchMessage => ({ match: 'any', any: { matches } });
const not = (m: RequestMatchMessage): RequestMatchMessage => ({ match: 'not', not: m });
const header = (name: string, value: { exact: string } | { regex: string }): RequestMatchMessage => ({
  match: 'header',
  header:
    'exact' in value ? { name, value: 'exact', exact: value.exact } : { name, value: 'regex', ...value },
});
const query = (name: string, value: { exact: string } | { regex: string }): RequestMatchMessage => ({
  match: 'query',
  query: 'exact' in value ? { name, value: 'exact', exact: value.exact } : { name, value: 'regex', ...value },
});

const status = (min: number, max: number): ResponseMatchMessage => ({
  match: 'status',
  status: { min, max },
});
const klass = (condition: ResponseMatchMessage, isFailure: boolean): ResponseClassMessage => ({
  condition,
  isFailure,
});

function route(
  name: string,
  condition: RequestMatchMessage | null,
  extra: Partial<RouteMessage> = {},
): RouteMessage {
  return {
    name,
    condition,
    responseClasses: [],
    isRetryable: false,
    timeoutMs: 0,
    backends: [],
    ...extra,
  };
}

function profile(extra: Partial<DestinationProfile> = {}): DestinationProfile {
  return {
    fullyQualifiedName: 'web.prod.svc.cluster.local',
    opaqueProtocol: false,
    routes: [],
    dstOverrides: [],
    source: 'ServiceProfile prod/web.prod.svc.cluster.local',
    rejectUnmatched: false,
    ...extra,
  };
}

test('the first route whose condition holds names the request', () => {
  const p = new Profile(
    profile({
      routes: [
        route('books', path('/books/.*'), { isRetryable: true, timeoutMs: 300 }),
        route('book one', path('/books/1')),
        route('authors', path('/authors/.*')),
      ],
    }),
  );
  const books = p.route(get('/books/1'));
  assert.equal(books.name, 'books');
  assert.equal(books.isRetryable, true);
  assert.equal(books.timeoutMs, 300);
  assert.equal(p.route(get('/authors/1')).name, 'authors');
  assert.equal(p.route(get('/authors/1')).isRetryable, false);
});

test('a request no route matches takes the default route: no name, retries or timeout', () => {
  const p = new Profile(profile({ routes: [route('books', path('/books/.*'), { isRetryable: true })] }));
  const r = p.route(get('/other'));
  assert.equal(r, p.defaultRoute);
  assert.equal(r.name, '');
  assert.equal(r.isRetryable, false);
  assert.equal(r.timeoutMs, 0);
  assert.equal(r.backends, undefined);
  // Without routes, every request does.
  const empty = new Profile(profile({ routes: [] }));
  assert.equal(empty.route(get('/books/1')), empty.defaultRoute);
});

test('a route without a condition never matches', () => {
  const p = new Profile(profile({ routes: [route('none', null), route('all', all())] }));
  assert.equal(p.route(get('/x')).name, 'all');
  assert.equal(new CompiledRoute(route('none', null)).matches(get('/x'), '/x'), false);
});

test('pathRegex must match the whole path, without the query', () => {
  const p = new Profile(profile({ routes: [route('ok', path('/ok'))] }));
  assert.equal(p.route(get('/ok')).name, 'ok');
  assert.equal(p.route(get('/ok?x=1&y=/z')).name, 'ok');
  assert.equal(p.route(get('/ok/1')).name, '');
  assert.equal(p.route(get('/okay')).name, '');
  assert.equal(p.route(get('/x/ok')).name, '');
  assert.equal(p.route(get('/ok/1?x=1')).name, '');
  // A regex that anchors itself works the same.
  assert.equal(holds(path('^/ok$'), get('/ok')), true);
  assert.equal(holds(path('^/ok$'), get('/ok/1')), false);
  // Alternatives are anchored as a group.
  assert.equal(holds(path('/a|/b'), get('/a')), true);
  assert.equal(holds(path('/a|/b'), get('/b')), true);
  assert.equal(holds(path('/a|/b'), get('/ab')), false);
  assert.equal(holds(path('/a|/b'), get('/xb')), false);
});

test('method matches the request method', () => {
  assert.equal(holds(method('GET'), get('/')), true);
  assert.equal(holds(method('GET'), exchange('POST', '/')), false);
  assert.equal(holds(method('post'), exchange('POST', '/')), true);
  assert.equal(holds(method('GET'), exchange('HEAD', '/')), false);
});

test('all, any and not nest', () => {
  const reads = all(method('GET'), not(path('/admin(/.*)?')), any(path('/books/.*'), path('/authors/.*')));
  assert.equal(holds(reads, get('/books/1')), true);
  assert.equal(holds(reads, get('/authors/2')), true);
  assert.equal(holds(reads, exchange('POST', '/books/1')), false);
  assert.equal(holds(reads, get('/admin/books/1')), false);
  assert.equal(holds(reads, get('/stores/1')), false);
  assert.equal(holds(not(not(method('GET'))), get('/')), true);
  assert.equal(holds(not(not(method('GET'))), exchange('PUT', '/')), false);
  // Empty lists: all holds, any does not.
  assert.equal(holds(all(), get('/')), true);
  assert.equal(holds(any(), get('/')), false);
});

test('header matches compare a value exactly or by an anchored regex; names are lower-cased', () => {
  askedHeaders.length = 0;
  const canary = header('X-Canary', { exact: 'yes' });
  assert.equal(holds(canary, get('/', { 'x-canary': 'yes' })), true);
  assert.equal(holds(canary, get('/', { 'x-canary': 'Yes' })), false);
  assert.equal(holds(canary, get('/', { 'x-canary': 'yes please' })), false);
  assert.equal(holds(canary, get('/')), false);
  const firefox = header('User-Agent', { regex: '.*Firefox.*' });
  assert.equal(holds(firefox, get('/', { 'user-agent': 'Mozilla/5.0 Firefox/120.0' })), true);
  assert.equal(holds(firefox, get('/', { 'user-agent': 'curl/8.0' })), false);
  assert.equal(holds(firefox, get('/')), false);
  // Anchored: a regex that matches part of the value does not match the value.
  assert.equal(
    holds(header('user-agent', { regex: 'Firefox' }), get('/', { 'user-agent': 'Firefox/1' })),
    false,
  );
  // Even a regex that matches the empty string needs the header.
  assert.equal(holds(header('x-absent', { regex: '.*' }), get('/')), false);
  assert.ok(askedHeaders.length > 0);
  for (const name of askedHeaders) assert.equal(name, name.toLowerCase());
});

test('query parameter matches compare a value exactly or by an anchored regex', () => {
  const page = query('page', { exact: '1' });
  assert.equal(holds(page, get('/books?page=1')), true);
  assert.equal(holds(page, get('/books?sort=asc&page=1')), true);
  assert.equal(holds(page, get('/books?page=2')), false);
  assert.equal(holds(page, get('/books?page=10')), false);
  assert.equal(holds(page, get('/books?pages=1')), false);
  assert.equal(holds(page, get('/books')), false);
  // Values are compared decoded.
  assert.equal(holds(query('q', { exact: 'a b/c' }), get('/s?q=a%20b%2Fc')), true);
  const numeric = query('page', { regex: '[0-9]+' });
  assert.equal(holds(numeric, get('/books?page=12')), true);
  assert.equal(holds(numeric, get('/books?page=12a')), false);
  assert.equal(holds(numeric, get('/books?page=')), false);
  assert.equal(holds(numeric, get('/books')), false);
  // Through a profile: the query is there for query matches though paths ignore it.
  const p = new Profile(profile({ routes: [route('page one', all(path('/books'), page))] }));
  assert.equal(p.route(get('/books?page=1')).name, 'page one');
  assert.equal(p.route(get('/books?page=2')).name, '');
});

// Gateway API: "Query param name matching MUST be exact" (HTTPQueryParamMatch.name), and the
// control plane keeps the name's case (src/catalog/httproutes.ts says query names match exactly).
test('query parameter names match case-sensitively', () => {
  assert.equal(holds(query('Page', { exact: '1' }), get('/books?Page=1')), true);
  assert.equal(holds(query('Page', { exact: '1' }), get('/books?page=1')), false);
});

test('a condition with a bad regex never matches, and compiling it does not throw', () => {
  const bad = [
    path('/books/('),
    header('x-a', { regex: '[' }),
    query('q', { regex: '(' }),
    // Valid without flag u, not with it.
    path('/\\-'),
  ];
  for (const m of bad) {
    const t = requestTest(m);
    for (const ex of [get('/books/('), get('/\\-'), get('/?q=(', { 'x-a': '[' })]) {
      assert.equal(t(ex, ex.path.split('?')[0] as string), false, JSON.stringify(m));
    }
  }
  // An unset or unknown condition never matches either.
  assert.equal(requestTest(null)(get('/'), '/'), false);
  assert.equal(requestTest({})(get('/'), '/'), false);
  assert.equal(requestTest({ match: 'header', header: null })(get('/'), '/'), false);
  // A profile with such a route still routes the rest.
  const p = new Profile(profile({ routes: [route('bad', path('(')), route('good', path('/.*'))] }));
  assert.equal(p.route(get('/x')).name, 'good');
});

test('response conditions: status ranges, and all, any and not over them', () => {
  assert.equal(responseTest(status(500, 504))(500), true);
  assert.equal(responseTest(status(500, 504))(504), true);
  assert.equal(responseTest(status(500, 504))(505), false);
  assert.equal(responseTest(status(500, 504))(499), false);
  // Unset bounds: 100 to 599.
  const open: ResponseMatchMessage = { match: 'status', status: null };
  assert.equal(responseTest(open)(100), true);
  assert.equal(responseTest(open)(599), true);
  const r = (m: ResponseMatchMessage): ((s: number) => boolean) => responseTest(m);
  const tooMany: ResponseMatchMessage = {
    match: 'any',
    any: { matches: [status(429, 429), status(503, 503)] },
  };
  assert.equal(r(tooMany)(429), true);
  assert.equal(r(tooMany)(503), true);
  assert.equal(r(tooMany)(500), false);
  const serverNot501: ResponseMatchMessage = {
    match: 'all',
    all: { matches: [status(500, 599), { match: 'not', not: status(501, 501) }] },
  };
  assert.equal(r(serverNot501)(500), true);
  assert.equal(r(serverNot501)(501), false);
  assert.equal(r(serverNot501)(404), false);
  assert.equal(r({})(500), false);
  assert.equal(responseTest(null)(500), false);
});

test('the first response class that matches decides whether a response failed', () => {
  const r = new CompiledRoute(
    route('r', path('/.*'), {
      responseClasses: [
        klass(status(500, 502), false),
        klass(status(500, 599), true),
        klass(status(404, 404), true),
        klass(status(200, 299), false),
      ],
    }),
  );
  assert.equal(r.isFailure(501, undefined, false), false, 'the first class wins over the second');
  assert.equal(r.isFailure(503, undefined, false), true);
  assert.equal(r.isFailure(404, undefined, false), true, 'a class makes a 4xx a failure');
  assert.equal(r.isFailure(200, undefined, false), false);
  // No class matches: the default.
  assert.equal(r.isFailure(403, undefined, false), false);
  assert.equal(r.isFailure(302, undefined, false), false);
});

test('without a matching class, 5xx and a non-zero gRPC status are failures', () => {
  const r = new CompiledRoute(route('r', path('/.*')));
  assert.equal(r.isFailure(500, undefined, false), true);
  assert.equal(r.isFailure(503, undefined, false), true);
  assert.equal(r.isFailure(499, undefined, false), false);
  assert.equal(r.isFailure(200, undefined, false), false);
  assert.equal(r.isFailure(200, 0, false), false);
  assert.equal(r.isFailure(200, 14, false), true);
  const withClass = new CompiledRoute(
    route('r', path('/.*'), { responseClasses: [klass(status(404, 404), true)] }),
  );
  assert.equal(withClass.isFailure(200, 2, false), true, 'the class did not match: the default decides');
  // The default route classifies the same way.
  const p = new Profile(profile());
  assert.equal(p.defaultRoute.isFailure(502, undefined, false), true);
  assert.equal(p.defaultRoute.isFailure(200, 13, false), true);
  assert.equal(p.defaultRoute.isFailure(201, undefined, false), false);
});

test('an errored response is a failure whatever the classes say', () => {
  const r = new CompiledRoute(route('r', path('/.*'), { responseClasses: [klass(status(100, 599), false)] }));
  assert.equal(r.isFailure(200, undefined, false), false);
  assert.equal(r.isFailure(200, undefined, true), true);
  assert.equal(r.isFailure(500, 0, true), true);
  assert.equal(new CompiledRoute(undefined).isFailure(200, 0, true), true);
});

test('a weighted split picks in proportion to the weights', () => {
  const split = new WeightedSplit([
    { authority: 'a:80', weight: 900 },
    { authority: 'b:80', weight: 100 },
  ]);
  assert.equal(split.empty, false);
  const counts = new Map<string, number>();
  const n = 10_000;
  for (let i = 0; i < n; i++) {
    const a = split.pick().authority;
    counts.set(a, (counts.get(a) ?? 0) + 1);
  }
  assert.deepEqual([...counts.keys()].sort(), ['a:80', 'b:80']);
  // 10 % expected; the standard deviation of 10,000 picks is 0.3 points.
  const share = ((counts.get('b:80') ?? 0) / n) * 100;
  assert.ok(share >= 8 && share <= 12, `b got ${share} %`);
});

test('a backend of weight zero is never picked, and all zeros make an empty split', () => {
  const split = new WeightedSplit([
    { authority: 'zero-first:80', weight: 0 },
    { authority: 'b:80', weight: 5 },
    { authority: 'zero-middle:80', weight: 0 },
    { authority: 'd:80', weight: 5 },
    { authority: 'zero-last:80', weight: 0 },
  ]);
  const seen = new Set<string>();
  for (let i = 0; i < 2_000; i++) seen.add(split.pick().authority);
  assert.deepEqual([...seen].sort(), ['b:80', 'd:80']);
  const only = new WeightedSplit([
    { authority: 'zero:80', weight: 0 },
    { authority: 'one:80', weight: 1 },
  ]);
  for (let i = 0; i < 1_000; i++) assert.equal(only.pick().authority, 'one:80');
  assert.equal(new WeightedSplit([{ authority: 'a:80', weight: 0 }]).empty, true);
  assert.equal(
    new WeightedSplit([
      { authority: 'a:80', weight: 0 },
      { authority: 'b:80', weight: 0 },
    ]).empty,
    true,
  );
  assert.equal(new WeightedSplit([]).empty, true);
});

test("a route's backends and a profile's split are unset when no weight is above zero", () => {
  const r = new CompiledRoute(route('r', path('/.*'), { backends: [{ authority: 'v2:80', weight: 0 }] }));
  assert.equal(r.backends, undefined);
  const withBackends = new CompiledRoute(
    route('r', path('/.*'), { backends: [{ authority: 'v2:80', weight: 3 }] }),
  );
  assert.equal(withBackends.backends?.pick().authority, 'v2:80');
  assert.equal(new Profile(profile()).split, undefined);
  assert.equal(new Profile(profile({ dstOverrides: [{ authority: 'v2:80', weight: 0 }] })).split, undefined);
  const split = new Profile(profile({ dstOverrides: [{ authority: 'v2:80', weight: 1000 }] })).split;
  assert.equal(split?.pick().authority, 'v2:80');
});

test('a profile is defined by its source, and carries rejectUnmatched and the retry budget', () => {
  const empty = new Profile(profile({ source: '' }));
  assert.equal(empty.defined, false);
  assert.equal(empty.rejectUnmatched, false);
  assert.equal(empty.budget, undefined);
  assert.equal(empty.fullyQualifiedName, 'web.prod.svc.cluster.local');

  const sp = new Profile(
    profile({ retryBudget: { retryRatio: 0.25, minRetriesPerSecond: 3, ttlMs: 5_000 } }),
  );
  assert.equal(sp.defined, true);
  assert.deepEqual(sp.budget, { retryRatio: 0.25, minRetriesPerSecond: 3, ttlMs: 5_000 });
  assert.equal(new Profile(profile({ retryBudget: null })).budget, undefined);

  const routes = new Profile(profile({ source: 'HTTPRoutes prod/web', rejectUnmatched: true }));
  assert.equal(routes.defined, true);
  assert.equal(routes.rejectUnmatched, true);
});

test("a split's backends carry the address they go to when the mesh does not know them", () => {
  const split = new WeightedSplit([{ authority: 'web-canary.prod.svc.cluster.local:8080', weight: 1 }]);
  assert.deepEqual(split.pick().target, { host: 'web-canary.prod.svc.cluster.local', port: 8080 });
});
