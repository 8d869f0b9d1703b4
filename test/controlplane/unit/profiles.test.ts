import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HTTPRouteMatch } from '../../../src/catalog/httproutes.js';
import type { HTTPRoute, ObjectMeta, ServiceProfile } from '../../../src/catalog/resources.js';
import { validateDocuments } from '../../../src/catalog/validate.js';
import {
  httpRouteProfile,
  pathRegexOf,
  routesFor,
} from '../../../src/controlplane/destination/httproutes.js';
import type { ServiceRef } from '../../../src/controlplane/destination/names.js';
import {
  profileFor,
  serviceProfileMessage,
  watchProfile,
} from '../../../src/controlplane/destination/profiles.js';
import type { DestinationProfile, RequestMatchMessage, RouteMessage } from '../../../src/grpc/protos.js';
import { MemoryCatalog, service } from '../../helpers/catalog.js';

type Doc = Record<string, unknown>;

const DOMAIN = 'cluster.local';
const WEB_FQDN = 'web.prod.svc.cluster.local';
/** The Service the tests ask about: web in prod, port 7000. */
const WEB = service('web', { namespace: 'prod', ports: [{ port: 7000, targetPort: 8080 }] });
const ref: ServiceRef = { namespace: 'prod', service: 'web', port: 7000 };

let version = 0;

function meta(
  namespace: string,
  name: string,
  r: { labels: Doc; annotations: Doc },
  created: string,
): ObjectMeta {
  version++;
  return {
    name,
    namespace,
    labels: r.labels as Record<string, string>,
    annotations: r.annotations as Record<string, string>,
    uid: `uid-${namespace}-${name}`,
    resourceVersion: String(version),
    creationTimestamp: created,
  };
}

/** A ServiceProfile as `weft apply` would store it (validated, defaults filled in). */
function storedProfile(namespace: string, name: string, spec: Doc): ServiceProfile {
  const [r, ...rest] = validateDocuments([
    {
      source: 'sp.yaml',
      value: {
        apiVersion: 'linkerd.io/v1alpha2',
        kind: 'ServiceProfile',
        metadata: { name, namespace },
        spec,
      },
    },
  ]);
  assert.equal(rest.length, 0);
  assert.ok(r?.kind === 'ServiceProfile');
  return {
    apiVersion: 'weft.io/v1alpha2',
    kind: 'ServiceProfile',
    metadata: meta(r.namespace, r.name, r.spec, '2024-01-01T00:00:00Z'),
    spec: r.spec.spec,
  };
}

/** An HTTPRoute as `weft apply` would store it; parentRefs default to web (every port), namespace to prod. */
function storedRoute(
  name: string,
  spec: Doc = {},
  opts: { namespace?: string; created?: string } = {},
): HTTPRoute {
  const [r, ...rest] = validateDocuments([
    {
      source: 'route.yaml',
      value: {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { name, namespace: opts.namespace ?? 'prod' },
        spec: { parentRefs: [{ group: '', kind: 'Service', name: 'web' }], ...spec },
      },
    },
  ]);
  assert.equal(rest.length, 0);
  assert.ok(r?.kind === 'HTTPRoute');
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: meta(r.namespace, r.name, r.spec, opts.created ?? '2024-01-01T00:00:00Z'),
    spec: r.spec.spec,
  };
}

/** A profile with one route per name, each matching its own path. */
function namedRoutes(...names: string[]): Doc {
  return { routes: names.map((name) => ({ name, condition: { pathRegex: `/${name}` } })) };
}

function catalog(): MemoryCatalog {
  const c = new MemoryCatalog();
  c.services.put(WEB);
  c.services.put(service('other', { namespace: 'prod' }));
  return c;
}

const routeNames = (p: DestinationProfile): string[] => p.routes.map((r) => r.name);

/** `all` with its parts in a fixed order, so a comparison does not depend on the order fields are read in. */
function sorted(m: RequestMatchMessage | null): RequestMatchMessage | null {
  if (m?.match !== 'all' || !m.all) return m;
  const matches = m.all.matches.map((x) => sorted(x) as RequestMatchMessage);
  matches.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  return { ...m, all: { matches } };
}

/** Compiles a path regex as the proxy does. */
const compiled = (source: string): RegExp => new RegExp(`^(?:${source})$`, 'u');

test("a ServiceProfile in the client's namespace wins over the one in the Service's", () => {
  const c = catalog();
  c.serviceProfiles.put(storedProfile('prod', WEB_FQDN, namedRoutes('service-ns')));
  c.serviceProfiles.put(storedProfile('client', WEB_FQDN, namedRoutes('client-ns')));
  const fromClient = profileFor(c, ref, 'client', DOMAIN);
  assert.equal(fromClient.source, `ServiceProfile client/${WEB_FQDN}`);
  assert.deepEqual(routeNames(fromClient), ['client-ns']);
  const fromElsewhere = profileFor(c, ref, 'elsewhere', DOMAIN);
  assert.equal(fromElsewhere.source, `ServiceProfile prod/${WEB_FQDN}`);
  assert.deepEqual(routeNames(fromElsewhere), ['service-ns']);
  assert.deepEqual(routeNames(profileFor(c, ref, 'prod', DOMAIN)), ['service-ns']);
  assert.equal(fromClient.fullyQualifiedName, WEB_FQDN);
});

test("a ServiceProfile counts only when it is named the Service's fully qualified name", () => {
  const c = catalog();
  for (const name of ['web', 'web.prod', 'web.prod.svc', 'other.prod.svc.cluster.local'])
    c.serviceProfiles.put(storedProfile('prod', name, namedRoutes('wrong')));
  c.serviceProfiles.put(storedProfile('other', WEB_FQDN, namedRoutes('wrong')));
  const p = profileFor(c, ref, 'client', DOMAIN);
  assert.equal(p.source, '');
  assert.deepEqual(p.routes, []);
  // The cluster domain is part of the name.
  c.serviceProfiles.put(storedProfile('prod', 'web.prod.svc.example.org', namedRoutes('right')));
  assert.equal(profileFor(c, ref, 'client', DOMAIN).source, '');
  const other = profileFor(c, ref, 'client', 'example.org');
  assert.equal(other.fullyQualifiedName, 'web.prod.svc.example.org');
  assert.deepEqual(routeNames(other), ['right']);
});

test('a ServiceProfile becomes the proxy message: conditions, classes, timeouts, budget, overrides', () => {
  const sp = storedProfile('prod', WEB_FQDN, {
    routes: [
      {
        name: 'GET /api/vote',
        condition: { method: 'GET', pathRegex: '/api/vote' },
        responseClasses: [
          { condition: { status: { min: 500 } }, isFailure: true },
          { condition: { not: { status: { max: 499 } } } },
        ],
        isRetryable: true,
        timeout: '300ms',
      },
      { name: 'vote', condition: { pathRegex: '/vote' } },
      {
        name: 'nested',
        condition: { all: [{ method: 'PUT' }, { any: [{ pathRegex: '/a' }, { not: { pathRegex: '/b' } }] }] },
        timeout: '1.5s',
      },
    ],
    retryBudget: { retryRatio: 0.25, minRetriesPerSecond: 5, ttl: '1m' },
    dstOverrides: [
      { authority: 'web.prod.svc.cluster.local', weight: '900m' },
      { authority: 'web-v2.prod.svc.cluster.local:8080', weight: 1 },
      { authority: 'web-v3', weight: '1' },
      { authority: 'web-v4:9000', weight: 0.1 },
      { authority: 'web-v5', weight: '0' },
    ],
  });
  const c = catalog();
  c.serviceProfiles.put(sp);
  const p = profileFor(c, ref, 'client', DOMAIN);
  assert.deepEqual(p, serviceProfileMessage(sp, ref, WEB_FQDN));
  const routes: RouteMessage[] = [
    {
      name: 'GET /api/vote',
      // Several fields: all of them must hold.
      condition: {
        match: 'all',
        all: {
          matches: [
            { match: 'method', method: 'GET' },
            { match: 'pathRegex', pathRegex: '/api/vote' },
          ],
        },
      },
      responseClasses: [
        { condition: { match: 'status', status: { min: 500, max: 599 } }, isFailure: true },
        {
          condition: { match: 'not', not: { match: 'status', status: { min: 100, max: 499 } } },
          isFailure: false,
        },
      ],
      isRetryable: true,
      timeoutMs: 300,
      backends: [],
    },
    {
      name: 'vote',
      condition: { match: 'pathRegex', pathRegex: '/vote' },
      responseClasses: [],
      isRetryable: false,
      // No timeout given: Linkerd's 10 s.
      timeoutMs: 10_000,
      backends: [],
    },
    {
      name: 'nested',
      condition: {
        match: 'all',
        all: {
          matches: [
            { match: 'method', method: 'PUT' },
            {
              match: 'any',
              any: {
                matches: [
                  { match: 'pathRegex', pathRegex: '/a' },
                  { match: 'not', not: { match: 'pathRegex', pathRegex: '/b' } },
                ],
              },
            },
          ],
        },
      },
      responseClasses: [],
      isRetryable: false,
      timeoutMs: 1_500,
      backends: [],
    },
  ];
  assert.deepEqual(
    p.routes.map((r) => ({ ...r, condition: sorted(r.condition) })),
    routes.map((r) => ({ ...r, condition: sorted(r.condition) })),
  );
  assert.deepEqual(p.retryBudget, { retryRatio: 0.25, minRetriesPerSecond: 5, ttlMs: 60_000 });
  assert.deepEqual(p.dstOverrides, [
    { authority: 'web.prod.svc.cluster.local:7000', weight: 900 },
    { authority: 'web-v2.prod.svc.cluster.local:8080', weight: 1000 },
    { authority: 'web-v3:7000', weight: 1000 },
    { authority: 'web-v4:9000', weight: 100 },
    { authority: 'web-v5:7000', weight: 0 },
  ]);
  assert.equal(p.fullyQualifiedName, WEB_FQDN);
  assert.equal(p.opaqueProtocol, false);
  assert.equal(p.rejectUnmatched, false);
  assert.equal(p.source, `ServiceProfile prod/${WEB_FQDN}`);
});

test('a ServiceProfile without a budget or overrides has none', () => {
  const c = catalog();
  c.serviceProfiles.put(storedProfile('prod', WEB_FQDN, {}));
  const p = profileFor(c, ref, 'client', DOMAIN);
  assert.equal(p.retryBudget, null);
  assert.deepEqual(p.dstOverrides, []);
  assert.deepEqual(p.routes, []);
  // Still a profile (route metrics exist), unlike no profile at all.
  assert.equal(p.source, `ServiceProfile prod/${WEB_FQDN}`);
  assert.equal(p.rejectUnmatched, false);
});

test('without a ServiceProfile or HTTPRoute, the profile is empty', () => {
  const c = catalog();
  c.httpRoutes.put(storedRoute('for-other', { parentRefs: [{ group: '', kind: 'Service', name: 'other' }] }));
  c.serviceProfiles.put(storedProfile('prod', 'other.prod.svc.cluster.local', namedRoutes('other')));
  const p = profileFor(c, ref, 'client', DOMAIN);
  assert.deepEqual(
    { ...p, retryBudget: p.retryBudget ?? null },
    {
      fullyQualifiedName: WEB_FQDN,
      opaqueProtocol: false,
      routes: [],
      retryBudget: null,
      dstOverrides: [],
      source: '',
      rejectUnmatched: false,
    },
  );
});

test('a ServiceProfile takes precedence over HTTPRoutes for the same Service', () => {
  const c = catalog();
  c.httpRoutes.put(storedRoute('web-route'));
  assert.equal(profileFor(c, ref, 'client', DOMAIN).source, 'HTTPRoutes prod/web-route');
  assert.equal(profileFor(c, ref, 'client', DOMAIN).rejectUnmatched, true);
  c.serviceProfiles.put(storedProfile('prod', WEB_FQDN, namedRoutes('sp')));
  const p = profileFor(c, ref, 'client', DOMAIN);
  assert.equal(p.source, `ServiceProfile prod/${WEB_FQDN}`);
  assert.deepEqual(routeNames(p), ['sp']);
  assert.equal(p.rejectUnmatched, false);
  // Also one in the client's namespace only.
  c.serviceProfiles.remove('prod', WEB_FQDN);
  c.serviceProfiles.put(storedProfile('client', WEB_FQDN, namedRoutes('client-sp')));
  assert.deepEqual(routeNames(profileFor(c, ref, 'client', DOMAIN)), ['client-sp']);
  assert.equal(profileFor(c, ref, 'elsewhere', DOMAIN).source, 'HTTPRoutes prod/web-route');
});

test("only HTTPRoutes whose parent is the Service (and port, when given) in the Service's namespace", () => {
  const parent = (name: string, port?: number): Doc => ({
    group: '',
    kind: 'Service',
    name,
    ...(port === undefined ? {} : { port }),
  });
  const routes = [
    storedRoute('every-port', { parentRefs: [parent('web')] }),
    storedRoute('port-7000', { parentRefs: [parent('web', 7000)] }),
    storedRoute('port-7001', { parentRefs: [parent('web', 7001)] }),
    storedRoute('other-svc', { parentRefs: [parent('other')] }),
    storedRoute('other-ns', { parentRefs: [parent('web')] }, { namespace: 'staging' }),
    storedRoute('two-parents', { parentRefs: [parent('other'), parent('web', 7001)] }),
  ];
  const names = (port: number): string[] => routesFor(routes, { ...ref, port }).map((r) => r.metadata.name);
  assert.deepEqual(names(7000), ['every-port', 'port-7000']);
  assert.deepEqual(names(7001), ['every-port', 'port-7001', 'two-parents']);
  assert.deepEqual(names(80), ['every-port']);
  assert.deepEqual(
    routesFor(routes, { namespace: 'staging', service: 'web', port: 7000 }).map((r) => r.metadata.name),
    ['other-ns'],
  );
  assert.deepEqual(routesFor(routes, { ...ref, service: 'nobody' }), []);
  const c = catalog();
  for (const r of routes) c.httpRoutes.put(r);
  assert.equal(profileFor(c, ref, 'client', DOMAIN).source, 'HTTPRoutes prod/every-port,port-7000');
  assert.equal(
    profileFor(c, { ...ref, port: 7001 }, 'client', DOMAIN).source,
    'HTTPRoutes prod/every-port,port-7001,two-parents',
  );
});

/** What identifies a route message in the ordering tests: path regex, method, header and query counts. */
function shape(r: RouteMessage): string {
  const parts = r.condition?.match === 'all' ? (r.condition.all?.matches ?? []) : [r.condition];
  const path = parts.find((m) => m?.match === 'pathRegex')?.pathRegex;
  const method = parts.find((m) => m?.match === 'method')?.method ?? '*';
  const headers = parts.filter((m) => m?.match === 'header').length;
  const queries = parts.filter((m) => m?.match === 'query').length;
  return `${path} ${method} h${headers} q${queries}`;
}

const prefix = (value: string): Doc => ({ type: 'PathPrefix', value });
const headers = (n: number): Doc[] => Array.from({ length: n }, (_, i) => ({ name: `x-h${i}`, value: 'v' }));
const queries = (n: number): Doc[] => Array.from({ length: n }, (_, i) => ({ name: `q${i}`, value: 'v' }));

test('HTTPRoute matches are ordered by Gateway API precedence', () => {
  // Written least specific first, spread over two rules.
  const route = storedRoute('r', {
    rules: [
      {
        matches: [
          { path: { type: 'RegularExpression', value: '/api/.*' } },
          { path: prefix('/') },
          { path: prefix('/api'), headers: headers(5) },
          { path: prefix('/api'), method: 'GET', headers: headers(1) },
        ],
      },
      {
        matches: [
          { path: prefix('/api'), method: 'GET', headers: headers(1), queryParams: queries(3) },
          { path: prefix('/api'), method: 'GET', headers: headers(2) },
          { path: prefix('/api/v1') },
          { path: { type: 'Exact', value: '/a' } },
        ],
      },
    ],
  });
  const p = httpRouteProfile([route], ref, DOMAIN);
  const re = (path: Parameters<typeof pathRegexOf>[0]): string => pathRegexOf(path);
  const api = re({ type: 'PathPrefix', value: '/api' });
  assert.deepEqual(p.routes.map(shape), [
    `${re({ type: 'Exact', value: '/a' })} * h0 q0`,
    `${re({ type: 'PathPrefix', value: '/api/v1' })} * h0 q0`,
    `${api} GET h2 q0`,
    `${api} GET h1 q3`,
    `${api} GET h1 q0`,
    `${api} * h5 q0`,
    `${re({ type: 'PathPrefix', value: '/' })} * h0 q0`,
    '/api/.* * h0 q0',
  ]);
  for (const r of p.routes) assert.equal(r.name, 'r');
});

test('equally specific matches keep the oldest route first, then by name, then rule order', () => {
  const everything = (backend: string): Doc => ({ backendRefs: [{ name: backend, port: 80 }] });
  const routes = [
    storedRoute('beta', { rules: [everything('beta')] }, { created: '2024-01-02T00:00:00Z' }),
    storedRoute('alpha', { rules: [everything('alpha')] }, { created: '2024-01-02T00:00:00Z' }),
    storedRoute(
      'zeta',
      { rules: [everything('zeta-1'), everything('zeta-2')] },
      { created: '2024-01-01T00:00:00Z' },
    ),
    // More specific, though newest: first.
    storedRoute(
      'newest',
      { rules: [{ matches: [{ path: prefix('/x') }], ...everything('newest') }] },
      { created: '2024-02-01T00:00:00Z' },
    ),
  ];
  const c = catalog();
  for (const r of routes) c.httpRoutes.put(r);
  const p = profileFor(c, ref, 'client', DOMAIN);
  const backends = p.routes.map((r) => r.backends.map((b) => b.authority.split('.')[0]).join());
  assert.deepEqual(backends, ['newest', 'zeta-1', 'zeta-2', 'alpha', 'beta']);
  assert.deepEqual(routeNames(p), ['newest', 'zeta', 'zeta', 'alpha', 'beta']);
  assert.equal(p.source, 'HTTPRoutes prod/zeta,alpha,beta,newest');
});

test('pathRegexOf: a prefix matches whole path elements', () => {
  const api = compiled(pathRegexOf({ type: 'PathPrefix', value: '/api' }));
  for (const path of ['/api', '/api/', '/api/x', '/api/x/y']) assert.equal(api.test(path), true, path);
  for (const path of ['/apix', '/ap', '/', '/x/api', '/API']) assert.equal(api.test(path), false, path);
  // A trailing slash makes no difference.
  const slash = compiled(pathRegexOf({ type: 'PathPrefix', value: '/api/' }));
  for (const path of ['/api', '/api/', '/api/x']) assert.equal(slash.test(path), true, path);
  assert.equal(slash.test('/apix'), false);
  const root = compiled(pathRegexOf({ type: 'PathPrefix', value: '/' }));
  for (const path of ['/', '/x', '/api/x/y', '/a.b?']) assert.equal(root.test(path), true, path);
  // Characters that mean something in a regex mean nothing in a prefix.
  const dotted = compiled(pathRegexOf({ type: 'PathPrefix', value: '/v1.0' }));
  assert.equal(dotted.test('/v1.0/x'), true);
  assert.equal(dotted.test('/v1x0/x'), false);
});

test('pathRegexOf: Exact matches the path only, whatever characters it holds', () => {
  const exact = (value: string): RegExp => compiled(pathRegexOf({ type: 'Exact', value }));
  assert.equal(exact('/api').test('/api'), true);
  assert.equal(exact('/api').test('/api/'), false);
  assert.equal(exact('/api').test('/api/x'), false);
  const special = "/a.b*c+d?e(f)[g]{h}|i$j^k\\l/m-n,o;p=q:r@s!t&u'v~w";
  const re = exact(special);
  assert.equal(re.test(special), true);
  assert.equal(re.test(special.replace('.', 'x')), false);
  assert.equal(re.test("/a.bbc+d?e(f)[g]{h}|i$j^k\\l/m-n,o;p=q:r@s!t&u'v~w"), false);
  assert.equal(re.test('/a'), false);
});

test('pathRegexOf: a RegularExpression is used as it is', () => {
  const match: HTTPRouteMatch['path'] = { type: 'RegularExpression', value: '/books/\\d+' };
  assert.equal(pathRegexOf(match), '/books/\\d+');
  assert.equal(compiled(pathRegexOf(match)).test('/books/12'), true);
  assert.equal(compiled(pathRegexOf(match)).test('/books/12/x'), false);
});

test('an HTTPRoute becomes routes with conditions, weighted backends and request timeouts', () => {
  const route = storedRoute('books', {
    rules: [
      {
        matches: [
          {
            path: { value: '/books' },
            headers: [
              { name: 'X-Canary', value: 'yes' },
              { type: 'RegularExpression', name: 'User-Agent', value: '.*Firefox.*' },
            ],
            queryParams: [{ name: 'Page', value: '1' }],
            method: 'GET',
          },
        ],
        backendRefs: [
          { name: 'books-v1', port: 8080 },
          { name: 'books-v2', port: 8081, weight: 9 },
          { name: 'books-v3', port: 8080, weight: 0 },
        ],
        timeouts: { request: '1m30s', backendRequest: '10s' },
      },
      { matches: [{ path: { type: 'Exact', value: '/healthz' } }], timeouts: { request: '0s' } },
      { matches: [{ path: { type: 'Exact', value: '/slow' } }], timeouts: { backendRequest: '500ms' } },
      { matches: [{ path: { type: 'Exact', value: '/fast' } }], timeouts: { request: '250ms' } },
    ],
  });
  const c = catalog();
  c.httpRoutes.put(route);
  const p = profileFor(c, ref, 'client', DOMAIN);
  assert.equal(p.fullyQualifiedName, WEB_FQDN);
  assert.equal(p.rejectUnmatched, true);
  assert.equal(p.source, 'HTTPRoutes prod/books');
  assert.deepEqual(p.dstOverrides, []);
  assert.equal(p.retryBudget ?? null, null);
  const byPath = new Map(p.routes.map((r) => [shape(r).split(' ')[0], r]));
  const books = byPath.get(pathRegexOf({ type: 'PathPrefix', value: '/books' }));
  assert.ok(books);
  assert.deepEqual(
    sorted(books.condition),
    sorted({
      match: 'all',
      all: {
        matches: [
          { match: 'pathRegex', pathRegex: pathRegexOf({ type: 'PathPrefix', value: '/books' }) },
          { match: 'method', method: 'GET' },
          // Header names lower-case, query names as they are.
          { match: 'header', header: { name: 'x-canary', value: 'exact', exact: 'yes' } },
          { match: 'header', header: { name: 'user-agent', value: 'regex', regex: '.*Firefox.*' } },
          { match: 'query', query: { name: 'Page', value: 'exact', exact: '1' } },
        ],
      },
    }),
  );
  assert.deepEqual(books.backends, [
    { authority: 'books-v1.prod.svc.cluster.local:8080', weight: 1 },
    { authority: 'books-v2.prod.svc.cluster.local:8081', weight: 9 },
    { authority: 'books-v3.prod.svc.cluster.local:8080', weight: 0 },
  ]);
  assert.equal(books.timeoutMs, 90_000);
  assert.equal(books.isRetryable, false);
  assert.deepEqual(books.responseClasses, []);
  const timeout = (value: string): number | undefined =>
    byPath.get(pathRegexOf({ type: 'Exact', value }))?.timeoutMs;
  assert.equal(timeout('/healthz'), 0, '0s: no timeout');
  assert.equal(timeout('/slow'), 0, 'only a backendRequest timeout');
  assert.equal(timeout('/fast'), 250);
  // No backendRefs: the parent Service itself (the profile's own split).
  assert.deepEqual(byPath.get(pathRegexOf({ type: 'Exact', value: '/fast' }))?.backends, []);
  // A match on the path alone is not wrapped in `all`.
  assert.deepEqual(byPath.get(pathRegexOf({ type: 'Exact', value: '/fast' }))?.condition, {
    match: 'pathRegex',
    pathRegex: pathRegexOf({ type: 'Exact', value: '/fast' }),
  });
});

test('watchProfile calls back at once, then only when the profile changes, until stopped', () => {
  const c = catalog();
  // Unrelated objects, there before the watch.
  c.serviceProfiles.put(storedProfile('prod', 'other.prod.svc.cluster.local', namedRoutes('other')));
  c.httpRoutes.put(storedRoute('for-other', { parentRefs: [{ group: '', kind: 'Service', name: 'other' }] }));
  const calls: DestinationProfile[] = [];
  const last = (): DestinationProfile => calls[calls.length - 1] as DestinationProfile;
  const stop = watchProfile(c, ref, 'client', DOMAIN, (p) => calls.push(p));
  assert.equal(calls.length, 1);
  assert.equal(last().source, '');

  // Changes that do not change this profile.
  c.serviceProfiles.put(storedProfile('prod', 'other.prod.svc.cluster.local', namedRoutes('other-2')));
  c.serviceProfiles.put(storedProfile('staging', WEB_FQDN, namedRoutes('not-ours')));
  c.httpRoutes.put(
    storedRoute('for-other-2', { parentRefs: [{ group: '', kind: 'Service', name: 'other' }] }),
  );
  c.httpRoutes.put(storedRoute('web-elsewhere', {}, { namespace: 'staging' }));
  c.services.put(service('another', { namespace: 'prod' }));
  assert.equal(calls.length, 1);

  // An HTTPRoute of web: added, stored again unchanged, changed.
  c.httpRoutes.put(storedRoute('web-route', { rules: [{ timeouts: { request: '1s' } }] }));
  assert.equal(calls.length, 2);
  assert.equal(last().source, 'HTTPRoutes prod/web-route');
  assert.equal(last().routes[0]?.timeoutMs, 1_000);
  c.httpRoutes.put(storedRoute('web-route', { rules: [{ timeouts: { request: '1s' } }] }));
  assert.equal(calls.length, 2, 'a new resourceVersion with the same content');
  c.httpRoutes.put(storedRoute('web-route', { rules: [{ timeouts: { request: '2s' } }] }));
  assert.equal(calls.length, 3);
  assert.equal(last().routes[0]?.timeoutMs, 2_000);

  // A ServiceProfile of web: it takes over; the HTTPRoute changing no longer matters.
  c.serviceProfiles.put(storedProfile('prod', WEB_FQDN, namedRoutes('sp')));
  assert.equal(calls.length, 4);
  assert.equal(last().source, `ServiceProfile prod/${WEB_FQDN}`);
  c.httpRoutes.put(storedRoute('web-route', { rules: [{ timeouts: { request: '3s' } }] }));
  assert.equal(calls.length, 4);
  c.serviceProfiles.put(storedProfile('prod', WEB_FQDN, namedRoutes('sp-2')));
  assert.equal(calls.length, 5);
  assert.deepEqual(routeNames(last()), ['sp-2']);

  // One in the client's namespace overrides it; changes to the shadowed one do not matter.
  c.serviceProfiles.put(storedProfile('client', WEB_FQDN, namedRoutes('client-sp')));
  assert.equal(calls.length, 6);
  assert.deepEqual(routeNames(last()), ['client-sp']);
  c.serviceProfiles.put(storedProfile('prod', WEB_FQDN, namedRoutes('sp-3')));
  assert.equal(calls.length, 6);

  // Deletions, back down to nothing.
  c.serviceProfiles.remove('client', WEB_FQDN);
  assert.equal(calls.length, 7);
  assert.deepEqual(routeNames(last()), ['sp-3']);
  c.serviceProfiles.remove('prod', WEB_FQDN);
  assert.equal(calls.length, 8);
  assert.equal(last().source, 'HTTPRoutes prod/web-route');
  assert.equal(last().routes[0]?.timeoutMs, 3_000);
  c.httpRoutes.remove('prod', 'web-route');
  assert.equal(calls.length, 9);
  assert.equal(last().source, '');

  stop();
  c.serviceProfiles.put(storedProfile('prod', WEB_FQDN, namedRoutes('after-stop')));
  c.httpRoutes.put(storedRoute('after-stop'));
  c.serviceProfiles.remove('prod', WEB_FQDN);
  assert.equal(calls.length, 9);
});

test('watchProfile answers once for what already exists', () => {
  const c = catalog();
  c.httpRoutes.put(storedRoute('web-route'));
  c.httpRoutes.put(storedRoute('web-route-2'));
  c.serviceProfiles.put(storedProfile('prod', WEB_FQDN, namedRoutes('sp')));
  c.serviceProfiles.put(storedProfile('client', WEB_FQDN, namedRoutes('client-sp')));
  const calls: DestinationProfile[] = [];
  const stop = watchProfile(c, ref, 'client', DOMAIN, (p) => calls.push(p));
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0], profileFor(c, ref, 'client', DOMAIN));
  assert.deepEqual(routeNames(calls[0] as DestinationProfile), ['client-sp']);
  stop();
});

// ---- opaque ports

/** web (port 7000, named `db`, and 3306) with these annotations. */
function opaqueWeb(annotations: Record<string, string>) {
  const web = service('web', {
    namespace: 'prod',
    ports: [
      { name: 'db', port: 7000, targetPort: 8080 },
      { name: 'mysql', port: 3306, targetPort: 3306 },
    ],
  });
  return { ...web, metadata: { ...web.metadata, annotations } };
}

const opaqueAt = (c: MemoryCatalog, port: number): boolean =>
  profileFor(c, { ...ref, port }, 'client', DOMAIN).opaqueProtocol;

test("a Service port is opaque when its annotation lists it (the Service's port, or its name)", () => {
  const c = catalog();
  c.services.put(opaqueWeb({ 'config.weft.io/opaque-ports': 'db,9000-9100' }));
  for (const port of [7000, 9000, 9100]) assert.equal(opaqueAt(c, port), true, String(port));
  // The annotation replaces the default list: 3306 is opaque no more. 8080 is a targetPort.
  for (const port of [3306, 8080, 8999]) assert.equal(opaqueAt(c, port), false, String(port));
  // With no ServiceProfile or HTTPRoute, the empty profile is opaque.
  const p = profileFor(c, ref, 'client', DOMAIN);
  assert.deepEqual(p, {
    fullyQualifiedName: WEB_FQDN,
    opaqueProtocol: true,
    routes: [],
    dstOverrides: [],
    source: '',
    rejectUnmatched: false,
  });
});

test("Linkerd's config.linkerd.io/opaque-ports counts too; weft's wins when both are set", () => {
  const c = catalog();
  c.services.put(opaqueWeb({ 'config.linkerd.io/opaque-ports': '7000' }));
  assert.equal(opaqueAt(c, 7000), true);
  c.services.put(
    opaqueWeb({ 'config.linkerd.io/opaque-ports': '7000', 'config.weft.io/opaque-ports': '7001' }),
  );
  assert.equal(opaqueAt(c, 7000), false);
  assert.equal(opaqueAt(c, 7001), true);
  // An empty value: no port is opaque, not even the defaults.
  c.services.put(opaqueWeb({ 'config.linkerd.io/opaque-ports': '' }));
  assert.equal(opaqueAt(c, 3306), false);
});

test("without an annotation, Linkerd's default opaque ports; a Service unknown to the catalog too", () => {
  const c = catalog();
  c.services.put(opaqueWeb({}));
  for (const port of [25, 587, 3306, 4444, 5432, 6379, 9300, 11211]) assert.equal(opaqueAt(c, port), true);
  for (const port of [80, 7000, 8080]) assert.equal(opaqueAt(c, port), false);
  const unknown = profileFor(c, { namespace: 'prod', service: 'nowhere', port: 5432 }, 'client', DOMAIN);
  assert.equal(unknown.opaqueProtocol, true);
});

test("a ServiceProfile's opaquePorts make its port opaque, with its routes; so does the Service's annotation", () => {
  const c = catalog();
  c.services.put(opaqueWeb({ 'config.weft.io/opaque-ports': '7001' }));
  c.serviceProfiles.put(
    storedProfile('prod', WEB_FQDN, { ...namedRoutes('sp'), opaquePorts: { '7000': {} } }),
  );
  const p = profileFor(c, ref, 'client', DOMAIN);
  assert.equal(p.opaqueProtocol, true);
  assert.deepEqual(routeNames(p), ['sp']);
  assert.equal(opaqueAt(c, 7001), true, "the Service's annotation still counts");
  assert.equal(opaqueAt(c, 7002), false);
  c.serviceProfiles.put(storedProfile('prod', WEB_FQDN, { opaquePorts: ['7002-7003'] }));
  assert.equal(opaqueAt(c, 7000), false);
  assert.equal(opaqueAt(c, 7003), true);
  // An HTTPRoute's profile is opaque by the Service's annotation alike.
  c.serviceProfiles.remove('prod', WEB_FQDN);
  c.httpRoutes.put(storedRoute('web-route'));
  const routed = profileFor(c, { ...ref, port: 7001 }, 'client', DOMAIN);
  assert.equal(routed.source, 'HTTPRoutes prod/web-route');
  assert.equal(routed.opaqueProtocol, true);
});

test("watchProfile answers again when the Service's opaque ports or the profile's change", () => {
  const c = catalog();
  c.services.put(opaqueWeb({}));
  const calls: DestinationProfile[] = [];
  const stop = watchProfile(c, ref, 'client', DOMAIN, (p) => calls.push(p));
  assert.deepEqual(
    calls.map((p) => p.opaqueProtocol),
    [false],
  );
  c.services.put(opaqueWeb({ 'config.linkerd.io/opaque-ports': '7000' }));
  c.services.put(opaqueWeb({ 'config.linkerd.io/opaque-ports': '7000', other: 'x' }));
  c.services.put(opaqueWeb({}));
  c.serviceProfiles.put(storedProfile('prod', WEB_FQDN, { opaquePorts: { '7000': {} } }));
  c.serviceProfiles.put(storedProfile('prod', WEB_FQDN, { opaquePorts: { '7001': {} } }));
  assert.deepEqual(
    calls.map((p) => [p.opaqueProtocol, p.source]),
    [
      [false, ''],
      [true, ''],
      [false, ''],
      [true, `ServiceProfile prod/${WEB_FQDN}`],
      [false, `ServiceProfile prod/${WEB_FQDN}`],
    ],
  );
  stop();
});
