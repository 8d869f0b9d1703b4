import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GET_ALIASES } from '../../src/catalog/kinds.js';
import { isKind, KINDS } from '../../src/catalog/resources.js';
import {
  DEFAULT_NAMESPACE,
  documentRefs,
  type SourcedDocument,
  ValidationError,
  validateDocuments,
} from '../../src/catalog/validate.js';
import { validationProblems } from '../helpers/catalog.js';

type Doc = Record<string, unknown>;

function service(metadata: Doc = {}, spec: Doc = {}): Doc {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', ...metadata },
    spec: { selector: { app: 'web' }, ports: [{ port: 80 }], ...spec },
  };
}

const one = (value: unknown, source = 'svc.yaml'): SourcedDocument[] => [{ source, value }];

/** The ports of the one Service a batch holds. */
function portsOf(docs: readonly SourcedDocument[]) {
  const [r] = validateDocuments(docs);
  assert.equal(r?.kind, 'Service');
  return r.kind === 'Service' ? r.spec.spec.ports : [];
}

test('a valid Service is defaulted: namespace "default", type ClusterIP, targetPort = port', () => {
  const [r, ...rest] = validateDocuments(
    one(
      service(
        {},
        {
          ports: [
            { name: 'http', port: 80 },
            { name: 'admin', port: 9000, targetPort: 'admin-http' },
          ],
        },
      ),
    ),
  );
  assert.equal(rest.length, 0);
  assert.equal(DEFAULT_NAMESPACE, 'default');
  assert.deepEqual(r, {
    source: 'svc.yaml',
    kind: 'Service',
    namespace: 'default',
    name: 'web',
    spec: {
      labels: {},
      annotations: {},
      spec: {
        type: 'ClusterIP',
        selector: { app: 'web' },
        ports: [
          { name: 'http', port: 80, targetPort: 80 },
          { name: 'admin', port: 9000, targetPort: 'admin-http' },
        ],
      },
    },
  });
});

test('a valid Service keeps its namespace, labels, annotations, numeric targetPort and appProtocol', () => {
  const [r] = validateDocuments(
    one(
      service(
        {
          namespace: 'prod',
          labels: { 'example.com/tier': 'front', app: 'web' },
          annotations: { note: 'Any text!' },
        },
        { type: 'ClusterIP', ports: [{ port: 80, targetPort: 8080, protocol: 'TCP', appProtocol: 'http' }] },
      ),
    ),
  );
  assert.equal(r?.namespace, 'prod');
  assert.deepEqual(r?.spec.labels, { 'example.com/tier': 'front', app: 'web' });
  assert.deepEqual(r?.spec.annotations, { note: 'Any text!' });
  assert.ok(r?.kind === 'Service');
  assert.deepEqual(r.spec.spec.ports, [{ port: 80, targetPort: 8080, appProtocol: 'http' }]);
});

test('an empty or absent selector is dropped: the Service has no managed endpoints', () => {
  for (const selector of [{}, undefined]) {
    const [r] = validateDocuments(one(service({}, { selector })));
    assert.ok(r?.kind === 'Service');
    assert.equal(r.spec.spec.selector, undefined);
    assert.ok(!('selector' in r.spec.spec));
  }
});

test('server-set metadata printed by `get -o yaml` is accepted back and dropped', () => {
  const [r] = validateDocuments(
    one(
      service({
        uid: '0b8f6c3e-1234-4c1d-9a55-1f0000000000',
        resourceVersion: '7',
        creationTimestamp: '2024-01-02T03:04:05.000Z',
        generation: 1,
      }),
    ),
  );
  assert.equal(r?.name, 'web');
  const text = JSON.stringify(r);
  for (const field of ['uid', 'resourceVersion', 'creationTimestamp', 'generation']) {
    assert.ok(!text.includes(field), `${field} leaked into ${text}`);
  }
});

test('errors name the source, kind, name and field path', () => {
  assert.deepEqual(validationProblems(one(service({}, { ports: [{ port: 0 }] }))), [
    'svc.yaml (Service web): spec.ports[0].port: Too small: expected number to be >=1',
  ]);
  const [p] = validationProblems(one(service({}, { ports: [{ port: 80 }, { name: 'b', port: 70000 }] })));
  assert.match(p ?? '', /^svc\.yaml \(Service web\): spec\.ports\[1\]\.port: /);
  const [q] = validationProblems(one(service({}, { ports: [{ port: 80, targetPort: 'Http' }] })));
  assert.match(
    q ?? '',
    /^svc\.yaml \(Service web\): spec\.ports\[0\]\.targetPort: must contain only lowercase/,
  );
  const [v] = validationProblems(one({ ...service(), apiVersion: 'apps/v1' }));
  assert.equal(v, 'svc.yaml (Service web): apiVersion: Service is apiVersion "v1"');
});

test('without a usable name, the label names just the kind', () => {
  const [p] = validationProblems(one({ apiVersion: 'v1', kind: 'Service', spec: { ports: [{ port: 80 }] } }));
  assert.match(p ?? '', /^svc\.yaml \(Service\): metadata: /);
  const [q] = validationProblems(one(service({ name: 42 })));
  assert.match(q ?? '', /^svc\.yaml \(Service\): metadata\.name: /);
});

test('unknown fields are named, at every level', () => {
  assert.deepEqual(
    validationProblems(
      one({
        ...service({ extra: 1 }, { bogus: true, ports: [{ port: 80, nodePort: 30000 }] }),
        status: {},
        other: 1,
      }),
    ),
    [
      'svc.yaml (Service web): metadata: unknown field "extra"',
      'svc.yaml (Service web): spec.ports[0]: unknown field "nodePort"',
      'svc.yaml (Service web): spec: unknown field "bogus"',
      'svc.yaml (Service web): unknown fields "status", "other"',
    ],
  );
});

test('an unknown kind lists the supported kinds; a missing kind is named', () => {
  assert.deepEqual(
    validationProblems(one({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'x' } })),
    [
      'svc.yaml: unknown kind "StatefulSet" (weft apply accepts: Service, Deployment, ServiceProfile, HTTPRoute)',
    ],
  );
  assert.deepEqual(validationProblems(one({ apiVersion: 'v1', metadata: { name: 'x' } })), [
    'svc.yaml: missing field "kind"',
  ]);
  // Object.hasOwn, not `in`: inherited names are not kinds.
  assert.match(validationProblems(one({ kind: 'toString' }))[0] ?? '', /unknown kind "toString"/);
});

test('a document that is not a mapping is refused, saying what it was', () => {
  for (const [value, what] of [
    ['hello', 'string'],
    [7, 'number'],
    [null, 'null'],
    [[service()], 'a list'],
  ] as const) {
    assert.deepEqual(validationProblems(one(value, 'x.yaml, document 2')), [
      `x.yaml, document 2: expected a resource (a mapping with apiVersion, kind, metadata), got ${what}`,
    ]);
  }
});

test('every problem in every document is reported, and the batch is refused whole', () => {
  const out = validationProblems([
    { source: 'a.yaml', value: service({ name: 'good' }) },
    { source: 'b.yaml', value: 'nope' },
    { source: 'c.yaml', value: service({ name: 'Bad' }) },
  ]);
  assert.equal(out.length, 2);
  assert.match(out[0] ?? '', /^b\.yaml: /);
  assert.match(out[1] ?? '', /^c\.yaml \(Service Bad\): metadata\.name: /);
});

test('the same kind/namespace/name twice in a batch is a duplicate, naming both sources', () => {
  assert.deepEqual(
    validationProblems([
      { source: 'a.yaml', value: service() },
      { source: 'b.yaml', value: service({ namespace: 'default' }) },
    ]),
    ['b.yaml (Service web): duplicate: Service default/web is also defined in a.yaml'],
  );
  // Another namespace or another name is a different object.
  const ok = validateDocuments([
    { source: 'a.yaml', value: service() },
    { source: 'b.yaml', value: service({ namespace: 'prod' }) },
    { source: 'c.yaml', value: service({ name: 'api' }) },
  ]);
  assert.deepEqual(
    ok.map((r) => `${r.namespace}/${r.name}`),
    ['default/web', 'prod/web', 'default/api'],
  );
});

test('a Service with several ports needs a name on each', () => {
  assert.deepEqual(
    validationProblems(one(service({}, { ports: [{ name: 'http', port: 80 }, { port: 81 }] }))),
    ['svc.yaml (Service web): spec.ports[1].name: required when a Service has more than one port'],
  );
  assert.equal(portsOf(one(service({}, { ports: [{ port: 81 }] }))).length, 1);
});

test('duplicate port numbers and names are refused', () => {
  assert.deepEqual(
    validationProblems(
      one(
        service(
          {},
          {
            ports: [
              { name: 'a', port: 80 },
              { name: 'b', port: 80 },
              { name: 'a', port: 81 },
            ],
          },
        ),
      ),
    ),
    [
      'svc.yaml (Service web): spec.ports[1].port: duplicate port 80',
      'svc.yaml (Service web): spec.ports[2].name: duplicate port name "a"',
    ],
  );
});

test("a Service's opaque-ports annotations, weft's and Linkerd's, are checked against its ports", () => {
  const ports = [
    { name: 'mysql', port: 3306, targetPort: 3307 },
    { name: 'http', port: 80 },
  ];
  for (const annotations of [
    { 'config.weft.io/opaque-ports': 'mysql, 9000-9100' },
    { 'config.linkerd.io/opaque-ports': '3306' },
    { 'config.linkerd.io/opaque-ports': '' },
  ]) {
    assert.equal(portsOf(one(service({ annotations }, { ports }))).length, 2);
  }
  assert.deepEqual(
    validationProblems(
      one(
        service(
          {
            annotations: {
              'config.weft.io/opaque-ports': '3306,mysqlx',
              'config.linkerd.io/opaque-ports': '100-10',
            },
          },
          { ports },
        ),
      ),
    ),
    [
      'svc.yaml (Service web): metadata.annotations.config.weft.io/opaque-ports: "mysqlx" is not a port, a port range (1-65535, or lo-hi like 9000-9100) or a port name (mysql, http)',
      'svc.yaml (Service web): metadata.annotations.config.linkerd.io/opaque-ports: the range "100-10" is backwards',
    ],
  );
  // Without named ports, names are not mentioned.
  assert.deepEqual(
    validationProblems(one(service({ annotations: { 'config.weft.io/opaque-ports': 'db' } }))),
    [
      'svc.yaml (Service web): metadata.annotations.config.weft.io/opaque-ports: "db" is not a port or a port range (1-65535, or lo-hi like 9000-9100)',
    ],
  );
});

test('a Service needs at least one port', () => {
  assert.deepEqual(validationProblems(one(service({}, { ports: [] }))), [
    'svc.yaml (Service web): spec.ports: a Service needs at least one port',
  ]);
});

test('bad names are refused: uppercase, too long, leading digit, bad namespace', () => {
  const nameProblem = (metadata: Doc): string => validationProblems(one(service(metadata)))[0] ?? '';
  assert.match(nameProblem({ name: 'Web' }), /metadata\.name: must consist of lowercase/);
  assert.match(nameProblem({ name: 'a'.repeat(64) }), /metadata\.name: must be no more than 63 characters/);
  assert.match(nameProblem({ name: '1web' }), /metadata\.name: .*start with a letter/);
  assert.match(nameProblem({ name: 'web-' }), /metadata\.name: /);
  assert.match(nameProblem({ namespace: 'Prod' }), /metadata\.namespace: must consist of lowercase/);
  assert.match(nameProblem({ namespace: 'n'.repeat(64) }), /metadata\.namespace: must be no more than 63/);
  assert.equal(validateDocuments(one(service({ name: 'a'.repeat(63) })))[0]?.name.length, 63);
});

test('bad label keys and values are refused, each naming its key', () => {
  assert.deepEqual(
    validationProblems(one(service({ labels: { 'bad key': 'v', ok: 'bad value!', 'Ex.com/x': 'y' } }))),
    [
      `svc.yaml (Service web): metadata.labels.bad key: label key "bad key" is invalid (at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric)`,
      `svc.yaml (Service web): metadata.labels.ok: label value "bad value!" is invalid (at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric)`,
      'svc.yaml (Service web): metadata.labels.Ex.com/x: label key "Ex.com/x" has an invalid prefix (must be a DNS subdomain)',
    ],
  );
  assert.match(validationProblems(one(service({ labels: { app: 'v'.repeat(64) } })))[0] ?? '', /label value/);
});

test('only TCP and ClusterIP are supported', () => {
  assert.deepEqual(validationProblems(one(service({}, { ports: [{ port: 53, protocol: 'UDP' }] }))), [
    'svc.yaml (Service web): spec.ports[0].protocol: only TCP is supported',
  ]);
  assert.deepEqual(validationProblems(one(service({}, { type: 'NodePort' }))), [
    'svc.yaml (Service web): spec.type: only type ClusterIP is supported',
  ]);
});

test('documentRefs takes kind, namespace (default "default") and name, and nothing else', () => {
  assert.deepEqual(
    documentRefs([
      { source: 'a', value: { kind: 'Service', metadata: { name: 'web' } } },
      { source: 'b', value: { kind: 'Service', metadata: { name: 'api', namespace: 'prod' }, spec: 'junk' } },
      { source: 'c', value: { kind: 'Service', metadata: { name: 'x', namespace: '' } } },
    ]),
    [
      { kind: 'Service', namespace: 'default', name: 'web' },
      { kind: 'Service', namespace: 'prod', name: 'api' },
      { kind: 'Service', namespace: 'default', name: 'x' },
    ],
  );
});

test('documentRefs reports every unusable document', () => {
  assert.throws(
    () =>
      documentRefs([
        { source: 'a', value: null },
        { source: 'b', value: { kind: 'StatefulSet', metadata: { name: 'x' } } },
        { source: 'c', value: { kind: 'Service', metadata: {} } },
        { source: 'd', value: { kind: 'Service', metadata: { name: '' } } },
        { source: 'e', value: { kind: 'Service', metadata: { name: 'ok' } } },
      ]),
    (err: unknown) => {
      assert.ok(err instanceof ValidationError);
      assert.deepEqual(err.problems, [
        'a: expected a resource, got null',
        'b: unknown kind "StatefulSet" (known: Service, Deployment, ServiceProfile, HTTPRoute)',
        'c (Service): metadata.name is required',
        'd (Service): metadata.name is required',
      ]);
      return true;
    },
  );
});

test('the kinds and get aliases', () => {
  assert.deepEqual(Object.keys(KINDS), ['Service', 'Deployment', 'ServiceProfile', 'HTTPRoute']);
  assert.equal(isKind('Service'), true);
  assert.equal(isKind('service'), false);
  assert.equal(isKind('hasOwnProperty'), false);
  assert.equal(isKind(undefined), false);
  for (const a of ['svc', 'service', 'services']) assert.equal(GET_ALIASES[a], 'Service');
  for (const a of ['wl', 'workload', 'workloads']) assert.equal(GET_ALIASES[a], 'Workload');
  for (const a of ['ep', 'endpoint', 'endpoints']) assert.equal(GET_ALIASES[a], 'Endpoints');
  for (const a of ['httproute', 'httproutes', 'httproutes.gateway.networking.k8s.io'])
    assert.equal(GET_ALIASES[a], 'HTTPRoute');
});

test('a single unnamed port gets its targetPort defaulted to its port', () => {
  assert.deepEqual(portsOf(one(service({}, { ports: [{ port: 8443 }] }))), [
    { port: 8443, targetPort: 8443 },
  ]);
});

function deployment(spec: Doc = {}, container: Doc = {}): Doc {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop' },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web', version: 'v1' } },
        spec: {
          serviceAccountName: 'web',
          containers: [
            { name: 'web', command: ['node'], args: ['web.js'], workingDir: '/srv', ...container },
          ],
        },
      },
      ...spec,
    },
  };
}

test('a valid Deployment is defaulted: one replica, env values, grace period 30 s', () => {
  const [r] = validateDocuments(
    one(
      deployment(
        {},
        {
          image: 'ghcr.io/example/web:1',
          env: [{ name: 'PORT', value: '8080' }, { name: 'EMPTY' }],
          ports: [{ containerPort: 8080, name: 'http' }],
          resources: { requests: { cpu: '100m' } },
        },
      ),
      'web.yaml',
    ),
  );
  assert.ok(r?.kind === 'Deployment');
  assert.equal(r.namespace, 'shop');
  assert.deepEqual(r.spec.spec, {
    replicas: 1,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web', version: 'v1' }, annotations: {} },
      spec: {
        containers: [
          {
            name: 'web',
            image: 'ghcr.io/example/web:1',
            command: ['node'],
            args: ['web.js'],
            workingDir: '/srv',
            env: [
              { name: 'PORT', value: '8080' },
              { name: 'EMPTY', value: '' },
            ],
            ports: [{ containerPort: 8080, name: 'http' }],
          },
        ],
        serviceAccountName: 'web',
        terminationGracePeriodSeconds: 30,
      },
    },
  });
});

test('a Deployment the local platform cannot run is refused, each problem named', () => {
  const d = deployment(
    { replicas: 21, selector: { matchLabels: { app: 'api' } } },
    { command: undefined, workingDir: 'relative', env: [{ name: '1X', valueFrom: {} }] },
  );
  assert.deepEqual(validationProblems(one(d, 'web.yaml')), [
    'web.yaml (Deployment web): spec.replicas: at most 20 pods a workload on this platform',
    'web.yaml (Deployment web): spec.template.spec.containers[0].workingDir: must be an absolute path',
    "web.yaml (Deployment web): spec.template.spec.containers[0].env[0].name: must consist of letters, digits, '_', '-' or '.', and not start with a digit",
    'web.yaml (Deployment web): spec.template.spec.containers[0].env[0]: unknown field "valueFrom"',
    'web.yaml (Deployment web): spec.template.metadata.labels: `selector` does not match template `labels`',
    'web.yaml (Deployment web): spec.template.spec.containers[0].command: required: the local platform runs a program, not an image',
  ]);
  const two = deployment();
  const template = (two.spec as { template: { spec: { containers: Doc[] } } }).template;
  template.spec.containers.push({ name: 'sidecar', command: ['x'] });
  assert.deepEqual(validationProblems(one(two)), [
    'svc.yaml (Deployment web): spec.template.spec.containers: the local platform runs one application container per pod',
  ]);
  assert.deepEqual(validationProblems(one({ ...deployment(), apiVersion: 'v1' })), [
    'svc.yaml (Deployment web): apiVersion: Deployment is apiVersion "apps/v1"',
  ]);
});
