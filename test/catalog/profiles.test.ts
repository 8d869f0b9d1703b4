import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseWeight, profileOpaquePorts } from '../../src/catalog/profiles.js';
import { type SourcedDocument, validateDocuments } from '../../src/catalog/validate.js';
import { parseManifest } from '../../src/cli/manifests.js';
import { validationProblems } from '../helpers/catalog.js';

type Doc = Record<string, unknown>;

/** A profile of voting-svc, as `linkerd profile --open-api` writes them. */
function profile(spec: Doc = {}, apiVersion = 'weft.io/v1alpha2'): Doc {
  return {
    apiVersion,
    kind: 'ServiceProfile',
    metadata: { name: 'voting-svc.emojivoto.svc.cluster.local', namespace: 'emojivoto' },
    spec: {
      routes: [
        {
          name: 'POST /emojivoto.v1.VotingService/VoteDoughnut',
          condition: { method: 'POST', pathRegex: '/emojivoto\\.v1\\.VotingService/VoteDoughnut' },
        },
        {
          name: 'GET /api/vote',
          condition: {
            all: [{ method: 'GET' }, { pathRegex: '/api/vote' }, { not: { pathRegex: '/api/vote/x' } }],
          },
          responseClasses: [
            { condition: { status: { min: 500, max: 504 } }, isFailure: true },
            {
              condition: { any: [{ status: { min: 429, max: 429 } }, { not: { status: { max: 499 } } }] },
              isFailure: true,
            },
          ],
          isRetryable: true,
          timeout: '300ms',
        },
      ],
      retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttl: '10s' },
      dstOverrides: [
        { authority: 'voting-svc.emojivoto.svc.cluster.local:8080', weight: '900m' },
        { authority: 'voting-v2.emojivoto.svc.cluster.local:8080', weight: 0.1 },
      ],
      ...spec,
    },
  };
}

const one = (value: unknown): SourcedDocument[] => [{ source: 'sp.yaml', value }];

const problems = (value: unknown): readonly string[] => validationProblems(one(value));

const LABEL = 'sp.yaml (ServiceProfile voting-svc.emojivoto.svc.cluster.local)';

test("a profile in weft.io or Linkerd's own group is accepted as it is", () => {
  for (const group of ['weft.io/v1alpha2', 'linkerd.io/v1alpha2']) {
    const [r] = validateDocuments(one(profile({}, group)));
    assert.ok(r?.kind === 'ServiceProfile');
    assert.equal(r.namespace, 'emojivoto');
    assert.equal(r.name, 'voting-svc.emojivoto.svc.cluster.local');
    assert.deepEqual(r.spec.spec, (profile() as { spec: unknown }).spec);
  }
  assert.deepEqual(problems(profile({}, 'linkerd.io/v1alpha1')), [
    `${LABEL}: apiVersion: ServiceProfile is apiVersion "weft.io/v1alpha2" or "linkerd.io/v1alpha2"`,
  ]);
});

test('every problem of a profile is named by its field', () => {
  const bad = profile({
    routes: [
      { name: 'a', condition: { pathRegex: '/books/(' }, timeout: 'soon' },
      { name: 'a', condition: { method: 'FETCH' }, isRetryable: 'yes' },
      { name: 'c', condition: {}, responseClasses: [{ condition: { status: { min: 504, max: 500 } } }] },
      { name: 'd', condition: { pathRegex: '/' }, retries: 3 },
    ],
    retryBudget: { retryRatio: -1, minRetriesPerSecond: 10, ttl: '0s' },
    dstOverrides: [
      { authority: 'web:80', weight: 'lots' },
      { authority: 'bad host', weight: 1 },
    ],
  });
  assert.deepEqual(problems(bad), [
    `${LABEL}: spec.routes[0].condition.pathRegex: not a valid regular expression: Unterminated group`,
    `${LABEL}: spec.routes[0].timeout: "soon" is not a duration (use e.g. 300ms, 10s, 1m)`,
    `${LABEL}: spec.routes[1].condition.method: must be one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH`,
    `${LABEL}: spec.routes[1].isRetryable: Invalid input: expected boolean, received string`,
    `${LABEL}: spec.routes[2].condition: needs one of method, pathRegex, all, any or not`,
    `${LABEL}: spec.routes[2].responseClasses[0].condition.status: min is above max`,
    `${LABEL}: spec.routes[3]: unknown field "retries"`,
    `${LABEL}: spec.retryBudget.retryRatio: Too small: expected number to be >=0`,
    `${LABEL}: spec.retryBudget.ttl: must be above zero`,
    `${LABEL}: spec.dstOverrides[0].weight: "lots" is not a weight (a quantity such as 1, 0.5 or 500m)`,
    `${LABEL}: spec.dstOverrides[1].authority: must be host or host:port`,
  ]);
});

test('overlapping status ranges, duplicate route names and an all-zero split are refused', () => {
  const bad = profile({
    routes: [
      {
        name: 'r',
        condition: { method: 'GET' },
        responseClasses: [
          { condition: { status: { min: 500 } }, isFailure: true },
          { condition: { status: { min: 400, max: 503 } } },
          // Not a plain range: the first match wins, as written.
          { condition: { not: { status: { min: 200, max: 299 } } }, isFailure: true },
        ],
      },
      { name: 'r', condition: { method: 'POST' } },
    ],
    dstOverrides: [
      { authority: 'a:80', weight: 0 },
      { authority: 'b:80', weight: '0m' },
    ],
  });
  assert.deepEqual(problems(bad), [
    `${LABEL}: spec.routes[0].responseClasses[1].condition.status: 400-503 overlaps responseClasses[0] (500-599)`,
    `${LABEL}: spec.routes[1].name: duplicate route name "r" (also routes[0])`,
    `${LABEL}: spec.dstOverrides: at least one weight must be above zero`,
  ]);
});

test('the name is a fully qualified name; the spec may be empty', () => {
  const named = (name: string): Doc => ({ ...profile(), metadata: { name } });
  assert.equal(validateDocuments(one(named('api.example.com')))[0]?.name, 'api.example.com');
  assert.match(
    problems(named('Voting_svc'))[0] ?? '',
    /metadata\.name: must consist of lowercase alphanumeric characters, '-' or '\.'/,
  );
  const [r] = validateDocuments(one({ ...profile(), spec: {} }));
  assert.deepEqual(r?.spec.spec, {});
});

test('weights are Kubernetes quantities, in thousandths', () => {
  assert.equal(parseWeight(1), 1000);
  assert.equal(parseWeight('1'), 1000);
  assert.equal(parseWeight('0.5'), 500);
  assert.equal(parseWeight('500m'), 500);
  assert.equal(parseWeight('10k'), 10_000_000);
  assert.equal(parseWeight(0), 0);
  for (const bad of ['-1', '1x', '', 'm', '1e3']) assert.equal(parseWeight(bad), undefined, bad);
});

// ---- Linkerd's own output, as `linkerd profile` writes it

const FIXTURES = new URL('../../../test/catalog/fixtures/', import.meta.url);

test('`linkerd profile --template`, `--open-api` and `--proto` output applies unchanged', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.startsWith('linkerd-profile-'));
  assert.ok(files.length >= 4, files.join(', '));
  for (const file of files) {
    const docs = parseManifest(readFileSync(new URL(file, FIXTURES), 'utf8'), file);
    const written = docs[0]?.value as { spec: unknown } | undefined;
    const [r, ...rest] = validateDocuments(docs);
    assert.equal(rest.length, 0, file);
    assert.ok(r?.kind === 'ServiceProfile', file);
    assert.match(r.name, /\.svc\.cluster\.local$/, file);
    // Server-set metadata (creationTimestamp: null) is dropped; the spec is kept as written.
    assert.deepEqual(r.spec.spec, written?.spec, file);
  }
});

test('creationTimestamp may be null or a time, on any kind', () => {
  for (const creationTimestamp of [null, '2024-01-02T03:04:05Z']) {
    const doc = profile();
    (doc.metadata as Doc).creationTimestamp = creationTimestamp;
    assert.equal(validateDocuments(one(doc)).length, 1);
  }
  const svc = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', creationTimestamp: null },
    spec: { ports: [{ port: 80 }] },
  };
  assert.equal(validateDocuments(one(svc))[0]?.name, 'web');
  assert.deepEqual(problems({ ...svc, metadata: { name: 'web', creationTimestamp: 5 } }), [
    'sp.yaml (Service web): metadata.creationTimestamp: Invalid input: expected string, received number',
  ]);
});

test("opaquePorts: Linkerd's map of ports to {}, or a list of ports and ranges", () => {
  const ports = (opaquePorts: unknown): string[] => {
    const [r] = validateDocuments(one(profile({ opaquePorts })));
    assert.ok(r?.kind === 'ServiceProfile');
    return profileOpaquePorts(r.spec.spec);
  };
  assert.deepEqual(ports({ '3306': {}, '5432': null }), ['3306', '5432']);
  assert.deepEqual(ports([3306, '9000-9100', ' 25 ']), ['3306', '9000-9100', '25']);
  assert.deepEqual(ports({}), []);
  assert.deepEqual(profileOpaquePorts({}), []);
});

test('opaquePorts: every bad port is named by its key or index', () => {
  const bad = { mysql: {}, '0': {}, '65536': {}, '3306': true, '5432': { x: 1 }, '25': {} };
  assert.deepEqual(problems(profile({ opaquePorts: bad })), [
    `${LABEL}: spec.opaquePorts.0: "0" is not a port (1-65535)`,
    `${LABEL}: spec.opaquePorts.3306: must be {} (the port is listed by its key)`,
    `${LABEL}: spec.opaquePorts.5432: must be {} (the port is listed by its key)`,
    `${LABEL}: spec.opaquePorts.65536: "65536" is not a port (1-65535)`,
    `${LABEL}: spec.opaquePorts.mysql: "mysql" is not a port (1-65535)`,
  ]);
  assert.deepEqual(problems(profile({ opaquePorts: [0, '80-70', 'mysql', 3306] })), [
    `${LABEL}: spec.opaquePorts[0]: "0" is not a port or a port range (1-65535, or lo-hi like 9000-9100)`,
    `${LABEL}: spec.opaquePorts[1]: the range "80-70" is backwards`,
    `${LABEL}: spec.opaquePorts[2]: "mysql" is not a port or a port range (1-65535, or lo-hi like 9000-9100)`,
  ]);
  assert.deepEqual(problems(profile({ opaquePorts: '3306' })), [
    `${LABEL}: spec.opaquePorts: must be a map of ports to {} (Linkerd's form: {"3306": {}}) or a list of ports`,
  ]);
});
