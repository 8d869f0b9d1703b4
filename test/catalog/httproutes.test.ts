import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gatewayDurationMs, type HTTPRouteMatch, type HTTPRouteSpec } from '../../src/catalog/httproutes.js';
import { type SourcedDocument, validateDocuments } from '../../src/catalog/validate.js';
import { validationProblems } from '../helpers/catalog.js';

type Doc = Record<string, unknown>;

const WEB_SVC = { group: '', kind: 'Service', name: 'web-svc' };

/** A mesh route of web-svc in namespace shop; `spec` replaces fields of the spec. */
function route(spec: Doc = {}, apiVersion = 'gateway.networking.k8s.io/v1'): Doc {
  return {
    apiVersion,
    kind: 'HTTPRoute',
    metadata: { name: 'web-route', namespace: 'shop' },
    spec: { parentRefs: [WEB_SVC], ...spec },
  };
}

/** A route with one rule, `rule`. */
const withRule = (rule: Doc): Doc => route({ rules: [rule] });

const one = (value: unknown): SourcedDocument[] => [{ source: 'route.yaml', value }];

/** The spec the catalog would store for `value`. */
function stored(value: unknown): HTTPRouteSpec {
  const [r, ...rest] = validateDocuments(one(value));
  assert.equal(rest.length, 0);
  assert.ok(r?.kind === 'HTTPRoute', `got ${r?.kind}`);
  return r.spec.spec;
}

const problems = (value: unknown): readonly string[] => validationProblems(one(value));

const LABEL = 'route.yaml (HTTPRoute web-route)';

/** What a match with nothing set means: every path. */
const EVERYTHING: HTTPRouteMatch = { path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] };

test('a full route is stored with its defaults filled in and its namespaces (its own) dropped', () => {
  const doc = route({
    parentRefs: [
      { group: 'core', kind: 'Service', name: 'web-svc', namespace: 'shop', port: 80 },
      { ...WEB_SVC, port: 8080 },
    ],
    hostnames: ['web.example.com', '*.example.com'],
    rules: [
      {
        name: 'books',
        matches: [
          {
            path: { value: '/books' },
            headers: [
              { name: 'X-Canary', value: 'yes' },
              { type: 'RegularExpression', name: 'user-agent', value: '.*Firefox.*' },
            ],
            queryParams: [{ name: 'page', value: '1' }],
            method: 'GET',
          },
          { path: { type: 'Exact', value: '/books/index.html' } },
          { path: { type: 'RegularExpression', value: '/books/\\d+' } },
        ],
        backendRefs: [
          { name: 'books-v1', port: 8080 },
          { group: '', kind: 'Service', name: 'books-v2', namespace: 'shop', port: 8080, weight: 9 },
          { group: 'core', name: 'books-v3', port: 8080, weight: 0 },
        ],
        timeouts: { request: '10s', backendRequest: '2s500ms' },
      },
      { matches: [{}], filters: [] },
    ],
  });
  const expected: HTTPRouteSpec = {
    parentRefs: [
      { group: '', kind: 'Service', name: 'web-svc', port: 80 },
      { group: '', kind: 'Service', name: 'web-svc', port: 8080 },
    ],
    hostnames: ['web.example.com', '*.example.com'],
    rules: [
      {
        name: 'books',
        matches: [
          {
            path: { type: 'PathPrefix', value: '/books' },
            headers: [
              { type: 'Exact', name: 'X-Canary', value: 'yes' },
              { type: 'RegularExpression', name: 'user-agent', value: '.*Firefox.*' },
            ],
            queryParams: [{ type: 'Exact', name: 'page', value: '1' }],
            method: 'GET',
          },
          { path: { type: 'Exact', value: '/books/index.html' }, headers: [], queryParams: [] },
          { path: { type: 'RegularExpression', value: '/books/\\d+' }, headers: [], queryParams: [] },
        ],
        backendRefs: [
          { group: '', kind: 'Service', name: 'books-v1', port: 8080, weight: 1 },
          { group: '', kind: 'Service', name: 'books-v2', port: 8080, weight: 9 },
          { group: '', kind: 'Service', name: 'books-v3', port: 8080, weight: 0 },
        ],
        timeouts: { request: '10s', backendRequest: '2s500ms' },
      },
      { matches: [EVERYTHING], backendRefs: [] },
    ],
  };
  assert.deepEqual(stored(doc), expected);
  // v1beta1 is the same resource; what is stored does not say which came in.
  assert.deepEqual(stored({ ...doc, apiVersion: 'gateway.networking.k8s.io/v1beta1' }), expected);
  // What is stored is valid as it is, and stored the same again (so `get -o yaml` applies back unchanged).
  assert.deepEqual(stored(route(expected as unknown as Doc)), expected);
});

test('no rules is one rule sending every request to the parent Service; no matches is every request', () => {
  const everything = { matches: [EVERYTHING], backendRefs: [] };
  assert.deepEqual(stored(route()), { parentRefs: [WEB_SVC], hostnames: [], rules: [everything] });
  assert.deepEqual(stored(withRule({ matches: [] })).rules, [everything]);
  assert.deepEqual(stored(withRule({ matches: [{ method: 'POST' }] })).rules[0]?.matches, [
    { ...EVERYTHING, method: 'POST' },
  ]);
  assert.deepEqual(stored(withRule({ matches: [{ path: { type: 'Exact' } }] })).rules[0]?.matches, [
    { ...EVERYTHING, path: { type: 'Exact', value: '/' } },
  ]);
  assert.equal(stored(withRule({ timeouts: {} })).rules[0]?.timeouts, undefined);
  assert.deepEqual(
    stored(withRule({ timeouts: { request: '0s', backendRequest: '1h' } })).rules[0]?.timeouts,
    {
      request: '0s',
      backendRequest: '1h',
    },
  );
});

test('only v1 and v1beta1 of gateway.networking.k8s.io', () => {
  assert.deepEqual(problems(route({}, 'gateway.networking.k8s.io/v1alpha2')), [
    `${LABEL}: apiVersion: HTTPRoute is apiVersion "gateway.networking.k8s.io/v1" or "gateway.networking.k8s.io/v1beta1"`,
  ]);
  assert.deepEqual(problems(route({}, 'policy.linkerd.io/v1beta3')).length, 1);
});

test('only Service parents (the mesh): a Gateway parent, or a Service without the core group, is refused', () => {
  assert.deepEqual(
    problems(
      route({
        parentRefs: [
          { name: 'public' },
          { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'internal' },
          { kind: 'Service', name: 'web-svc' },
          { group: 'gateway.networking.k8s.io', kind: 'Service', name: 'api-svc' },
          { group: 'core', kind: 'ServiceImport', name: 'far-svc' },
        ],
      }),
    ),
    [
      `${LABEL}: spec.parentRefs[0].kind: only Service parents (the mesh) are supported, not Gateway: set group: "" and kind: Service`,
      `${LABEL}: spec.parentRefs[1].kind: only Service parents (the mesh) are supported, not Gateway: set group: "" and kind: Service`,
      `${LABEL}: spec.parentRefs[2].group: must be "" (or core) for a Service parent: without it, the group is gateway.networking.k8s.io`,
      `${LABEL}: spec.parentRefs[3].group: must be "" (or core) for a Service parent: without it, the group is gateway.networking.k8s.io`,
      `${LABEL}: spec.parentRefs[4].kind: only Service parents (the mesh) are supported, not ServiceImport: set group: "" and kind: Service`,
    ],
  );
});

test('parents: at least one, at most 32, distinct, named as Services are', () => {
  assert.deepEqual(problems(route({ parentRefs: [] })), [
    `${LABEL}: spec.parentRefs: needs at least one parent: the Service whose traffic the route routes`,
  ]);
  assert.match(
    problems(route({ parentRefs: undefined }))[0] ?? '',
    /^route\.yaml \(HTTPRoute web-route\): spec\.parentRefs: /,
  );
  const many = Array.from({ length: 33 }, (_, i) => ({ ...WEB_SVC, port: i + 1 }));
  assert.deepEqual(problems(route({ parentRefs: many })), [
    `${LABEL}: spec.parentRefs: Too big: expected array to have <=32 items`,
  ]);
  assert.deepEqual(problems(route({ parentRefs: [{ ...WEB_SVC, name: 'Web_svc' }] })), [
    `${LABEL}: spec.parentRefs[0].name: must consist of lowercase alphanumeric characters or '-', start with a letter, and end with an alphanumeric character`,
  ]);
  assert.deepEqual(
    problems(
      route({
        parentRefs: [{ ...WEB_SVC, port: 80 }, { ...WEB_SVC, port: 81 }, { ...WEB_SVC, port: 81 }, WEB_SVC],
      }),
    ),
    [
      `${LABEL}: spec.parentRefs[2]: duplicate parent "web-svc" port 81 (also parentRefs[1])`,
      `${LABEL}: spec.parentRefs[3]: Service "web-svc" is also parentRefs[0]: give each a different port`,
    ],
  );
});

test("cross-namespace parents and backends are refused; the route's own namespace is fine", () => {
  assert.deepEqual(
    problems(
      route({
        parentRefs: [
          { ...WEB_SVC, namespace: 'shop' },
          { ...WEB_SVC, name: 'api-svc', namespace: 'other' },
        ],
        rules: [
          {
            backendRefs: [
              { name: 'web-v2', port: 80, namespace: 'shop' },
              { name: 'web-v3', port: 80, namespace: 'default' },
            ],
          },
        ],
      }),
    ),
    [
      `${LABEL}: spec.parentRefs[1].namespace: cross-namespace parents are not supported: must be the route's namespace "shop" (or left out)`,
      `${LABEL}: spec.rules[0].backendRefs[1].namespace: cross-namespace backends are not supported: must be the route's namespace "shop" (or left out)`,
    ],
  );
  // Without metadata.namespace the route is in "default".
  const inDefault = { ...route(), metadata: { name: 'web-route' } };
  const parents = [{ ...WEB_SVC, namespace: 'shop' }];
  assert.deepEqual(problems({ ...inDefault, spec: { parentRefs: parents } }), [
    `${LABEL}: spec.parentRefs[0].namespace: cross-namespace parents are not supported: must be the route's namespace "default" (or left out)`,
  ]);
});

test('regular expressions must compile as the proxy compiles them (flag u), in paths, headers and query parameters', () => {
  assert.deepEqual(
    problems(
      withRule({
        matches: [
          { path: { type: 'RegularExpression', value: '/books/(' } },
          // Without flag u this would compile: a lone brace is an error only in unicode mode.
          { path: { type: 'RegularExpression', value: '/a{' } },
          { headers: [{ type: 'RegularExpression', name: 'x-user', value: '[a-' }] },
          { queryParams: [{ type: 'RegularExpression', name: 'q', value: '*' }] },
          // Exact values are not patterns.
          { headers: [{ name: 'x-user', value: '[a-' }], queryParams: [{ name: 'q', value: '*' }] },
        ],
      }),
    ),
    [
      `${LABEL}: spec.rules[0].matches[0].path.value: not a valid regular expression: Unterminated group`,
      `${LABEL}: spec.rules[0].matches[1].path.value: not a valid regular expression: Incomplete quantifier`,
      `${LABEL}: spec.rules[0].matches[2].headers[0].value: not a valid regular expression: Unterminated character class`,
      `${LABEL}: spec.rules[0].matches[3].queryParams[0].value: not a valid regular expression: Nothing to repeat`,
    ],
  );
});

test('Exact and PathPrefix values are absolute, clean paths', () => {
  const paths = ['books', '/a//b', '/a/../b', '/a%2Fb', '/a#top', '/a/.', '/a b'];
  assert.deepEqual(
    problems(withRule({ matches: paths.map((value) => ({ path: { type: 'Exact', value } })) })),
    [
      'must be an absolute path (start with "/")',
      'must not contain "//"',
      'must not contain "/../"',
      'must not contain "%2F"',
      'must not contain "#"',
      'must not end with "/."',
      "must hold only the characters of a URL path: letters, digits, -._~!$&'()*+,;=:@/ and %XX escapes",
    ].map((m, i) => `${LABEL}: spec.rules[0].matches[${i}].path.value: ${m}`),
  );
  assert.deepEqual(problems(withRule({ matches: [{ path: { type: 'Prefix', value: '/' } }] })), [
    `${LABEL}: spec.rules[0].matches[0].path.type: must be Exact, PathPrefix or RegularExpression`,
  ]);
  assert.equal(
    stored(withRule({ matches: [{ path: { value: "/a-b/c_d/~e/%20/:@!$&'()*+,;=" } }] })).rules.length,
    1,
  );
});

test('a match names a header once, compared case-insensitively, and a query parameter once, compared exactly', () => {
  assert.deepEqual(
    problems(
      withRule({
        matches: [
          {
            headers: [
              { name: 'X-Version', value: 'v1' },
              { name: 'x-version', value: 'v2' },
              { name: 'X-VERSION', value: 'v3', type: 'RegularExpression' },
            ],
            queryParams: [
              { name: 'page', value: '1' },
              { name: 'Page', value: '2' },
              { name: 'page', value: '3' },
            ],
          },
          // Another match may name the same header again.
          { headers: [{ name: 'x-version', value: 'v2' }] },
        ],
      }),
    ),
    [
      `${LABEL}: spec.rules[0].matches[0].headers[1].name: duplicate header "x-version" (also headers[0])`,
      `${LABEL}: spec.rules[0].matches[0].headers[2].name: duplicate header "X-VERSION" (also headers[0])`,
      `${LABEL}: spec.rules[0].matches[0].queryParams[2].name: duplicate query parameter "page" (also queryParams[0])`,
    ],
  );
});

test("header and query names are tokens; values are not empty; methods are the Gateway API's", () => {
  assert.deepEqual(
    problems(
      withRule({
        matches: [
          { headers: [{ name: ':authority', value: 'x' }], method: 'get' },
          { headers: [{ name: 'x-a', value: '' }], queryParams: [{ name: 'a b', value: '1' }] },
        ],
      }),
    ),
    [
      `${LABEL}: spec.rules[0].matches[0].headers[0].name: must be an HTTP header name: letters, digits and !#$%&'*+-.^_\`|~`,
      `${LABEL}: spec.rules[0].matches[0].method: must be one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH`,
      `${LABEL}: spec.rules[0].matches[1].headers[0].value: Too small: expected string to have >=1 characters`,
      `${LABEL}: spec.rules[0].matches[1].queryParams[0].name: must be a query parameter name: letters, digits and !#$%&'*+-.^_\`|~`,
    ],
  );
});

test("backends: Services only, with a port, in a weight of 0 to 1000000; not all of a rule's weights zero", () => {
  assert.deepEqual(
    problems(
      route({
        rules: [
          {
            backendRefs: [
              { group: 'multicluster.x-k8s.io', kind: 'ServiceImport', name: 'far', port: 80 },
              { group: 'example.com', name: 'other', port: 80 },
              { name: 'no-port' },
              { name: 'heavy', port: 80, weight: 1_000_001 },
              { name: 'half', port: 80, weight: 0.5 },
              { name: 'Bad', port: 80 },
            ],
          },
          {
            backendRefs: [
              { name: 'a', port: 80, weight: 0 },
              { name: 'b', port: 80, weight: 0 },
            ],
          },
        ],
      }),
    ),
    [
      `${LABEL}: spec.rules[0].backendRefs[0].kind: only Service backends (group "" or core, kind Service) are supported`,
      `${LABEL}: spec.rules[0].backendRefs[1].kind: only Service backends (group "" or core, kind Service) are supported`,
      `${LABEL}: spec.rules[0].backendRefs[2].port: required for a Service backend`,
      `${LABEL}: spec.rules[0].backendRefs[3].weight: Too big: expected number to be <=1000000`,
      `${LABEL}: spec.rules[0].backendRefs[4].weight: Invalid input: expected int, received number`,
      `${LABEL}: spec.rules[0].backendRefs[5].name: must consist of lowercase alphanumeric characters or '-', start with a letter, and end with an alphanumeric character`,
      `${LABEL}: spec.rules[1].backendRefs: at least one weight must be above zero`,
    ],
  );
  // One weight above zero is enough; a zero weight alone takes no traffic but is valid.
  const split = stored(
    withRule({
      backendRefs: [
        { name: 'a', port: 80, weight: 0 },
        { name: 'b', port: 80 },
      ],
    }),
  );
  assert.deepEqual(
    split.rules[0]?.backendRefs.map((b) => b.weight),
    [0, 1],
  );
});

test('timeouts are Gateway API durations, backendRequest within request (unless request is 0s: none)', () => {
  const bad = (timeouts: Doc): readonly string[] => problems(withRule({ timeouts }));
  const notDuration = (t: string): string =>
    `"${t}" is not a Gateway API duration (1 to 4 parts of up to 5 digits and h, m, s or ms, e.g. 10s, 500ms, 1m30s)`;
  assert.deepEqual(bad({ request: '1.5s', backendRequest: '10' }), [
    `${LABEL}: spec.rules[0].timeouts.request: ${notDuration('1.5s')}`,
    `${LABEL}: spec.rules[0].timeouts.backendRequest: ${notDuration('10')}`,
  ]);
  for (const t of ['1d', '-1s', '100000s', '1h1m1s1ms1h', ' 1s', '1us', '']) {
    assert.deepEqual(bad({ request: t }), [`${LABEL}: spec.rules[0].timeouts.request: ${notDuration(t)}`], t);
  }
  assert.deepEqual(bad({ request: '1s', backendRequest: '1s1ms' }), [
    `${LABEL}: spec.rules[0].timeouts.backendRequest: must not be longer than request (1s)`,
  ]);
  assert.deepEqual(bad({ request: '500ms', retries: 3 }), [
    `${LABEL}: spec.rules[0].timeouts: unknown field "retries"`,
  ]);
  for (const ok of [
    { request: '1m', backendRequest: '60s' },
    { request: '0s', backendRequest: '10m' },
    { backendRequest: '99999h' },
  ]) {
    assert.deepEqual(stored(withRule({ timeouts: ok })).rules[0]?.timeouts, ok);
  }
});

test('gatewayDurationMs sums up to four parts, as Go does', () => {
  assert.equal(gatewayDurationMs('10s'), 10_000);
  assert.equal(gatewayDurationMs('500ms'), 500);
  assert.equal(gatewayDurationMs('1m'), 60_000);
  assert.equal(gatewayDurationMs('1h30m30s500ms'), 5_430_500);
  assert.equal(gatewayDurationMs('00060m'), 3_600_000);
  assert.equal(gatewayDurationMs('1s1s'), 2000);
  assert.equal(gatewayDurationMs('0s'), 0);
  for (const bad of ['', '1', '1.5s', '1d', '123456s', '1s1s1s1s1s', '1S', 's']) {
    assert.equal(gatewayDurationMs(bad), undefined, bad);
  }
});

test('filters are refused where they may appear: rules and backends', () => {
  assert.deepEqual(
    problems(
      withRule({
        filters: [
          { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x', value: 'y' }] } },
        ],
        backendRefs: [{ name: 'a', port: 80, filters: [{ type: 'URLRewrite' }] }],
      }),
    ),
    [
      `${LABEL}: spec.rules[0].filters: filters are not supported yet`,
      `${LABEL}: spec.rules[0].backendRefs[0].filters: filters are not supported yet`,
    ],
  );
  // Empty lists say nothing.
  assert.equal(
    stored(withRule({ filters: [], backendRefs: [{ name: 'a', port: 80, filters: [] }] })).rules.length,
    1,
  );
});

test('unknown fields are refused at every level, as for other kinds', () => {
  assert.deepEqual(
    problems(
      route({
        parentRefs: [{ ...WEB_SVC, sectionName: 'http' }],
        rules: [
          { retry: { attempts: 2 }, matches: [{ path: { type: 'Exact', value: '/', caseSensitive: true } }] },
        ],
        tls: {},
      }),
    ),
    [
      `${LABEL}: spec.parentRefs[0]: unknown field "sectionName"`,
      `${LABEL}: spec.rules[0].matches[0].path: unknown field "caseSensitive"`,
      `${LABEL}: spec.rules[0]: unknown field "retry"`,
      `${LABEL}: spec: unknown field "tls"`,
    ],
  );
});

test('limits: 16 hostnames, 16 rules, 64 matches a rule and 128 a route, 16 headers, 16 backends; unique rule names', () => {
  const times = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));
  assert.deepEqual(problems(route({ hostnames: times(17, (i) => `h${i}.example.com`) })), [
    `${LABEL}: spec.hostnames: Too big: expected array to have <=16 items`,
  ]);
  assert.deepEqual(problems(route({ rules: times(17, () => ({})) })), [
    `${LABEL}: spec.rules: Too big: expected array to have <=16 items`,
  ]);
  assert.deepEqual(problems(route({ rules: [] })), [
    `${LABEL}: spec.rules: Too small: expected array to have >=1 items`,
  ]);
  const matches = (n: number) => times(n, (i) => ({ path: { value: `/p${i}` } }));
  assert.deepEqual(problems(withRule({ matches: matches(65) })), [
    `${LABEL}: spec.rules[0].matches: Too big: expected array to have <=64 items`,
  ]);
  assert.deepEqual(problems(route({ rules: [{ matches: matches(64) }, { matches: matches(64) }, {}] })), [
    `${LABEL}: spec.rules: at most 128 matches across all rules (has 129)`,
  ]);
  assert.equal(
    stored(route({ rules: [{ matches: matches(64) }, { matches: matches(64) }] })).rules.length,
    2,
  );
  assert.deepEqual(
    problems(withRule({ matches: [{ headers: times(17, (i) => ({ name: `x-${i}`, value: 'v' })) }] })),
    [`${LABEL}: spec.rules[0].matches[0].headers: Too big: expected array to have <=16 items`],
  );
  assert.deepEqual(problems(withRule({ backendRefs: times(17, (i) => ({ name: `b${i}`, port: 80 })) })), [
    `${LABEL}: spec.rules[0].backendRefs: Too big: expected array to have <=16 items`,
  ]);
  assert.deepEqual(problems(route({ rules: [{ name: 'a' }, {}, { name: 'a' }, { name: 'B' }] })), [
    `${LABEL}: spec.rules[3].name: must consist of lowercase alphanumeric characters, '-' or '.', and start and end with an alphanumeric character`,
    `${LABEL}: spec.rules[2].name: duplicate rule name "a" (also rules[0])`,
  ]);
});

test('hostnames are lowercase host names, perhaps with a leading wildcard label, not IP addresses', () => {
  assert.deepEqual(
    problems(route({ hostnames: ['Web.example.com', 'a.*.example.com', '10.0.0.1', '::1', 'web:80'] })),
    [
      `${LABEL}: spec.hostnames[0]: must be a lowercase host name such as web.example.com, or *.example.com`,
      `${LABEL}: spec.hostnames[1]: must be a lowercase host name such as web.example.com, or *.example.com`,
      `${LABEL}: spec.hostnames[2]: must be a host name, not an IP address`,
      `${LABEL}: spec.hostnames[3]: must be a host name, not an IP address`,
      `${LABEL}: spec.hostnames[4]: must be a lowercase host name such as web.example.com, or *.example.com`,
    ],
  );
});

test('the route is named as a DNS subdomain, like other custom resources', () => {
  const named = (name: string): Doc => ({ ...route(), metadata: { name } });
  assert.equal(validateDocuments(one(named('web.route-1')))[0]?.name, 'web.route-1');
  assert.match(
    problems(named('Web_Route'))[0] ?? '',
    /^route\.yaml \(HTTPRoute Web_Route\): metadata\.name: must consist of lowercase alphanumeric characters, '-' or '\.'/,
  );
});
