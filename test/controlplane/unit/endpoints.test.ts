import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Workload } from '../../../src/catalog/catalog.js';
import { LocalCatalog } from '../../../src/catalog/local/local-catalog.js';
import { SnapshotStore } from '../../../src/catalog/local/store.js';
import type { Service } from '../../../src/catalog/resources.js';
import { validateDocuments } from '../../../src/catalog/validate.js';
import {
  DEFAULT_WEIGHT,
  type EndpointChange,
  EndpointIndex,
} from '../../../src/controlplane/destination/endpoints.js';
import type { ServiceRef } from '../../../src/controlplane/destination/names.js';
import { MemoryCatalog, workload as podWorkload, service } from '../../helpers/catalog.js';

const workload = (pod: string, extra: Partial<Workload> = {}): Workload =>
  podWorkload(pod, { serviceAccount: 'web-sa', ...extra });

const identityOf = (w: Workload): string => `${w.serviceAccount}.${w.namespace}.id`;

/** Subscribes and records each change as a compact string: exists, +added, -removed, size. */
function watch(
  index: EndpointIndex,
  ref: ServiceRef,
): { changes: string[]; raw: EndpointChange[]; stop: () => void } {
  const changes: string[] = [];
  const raw: EndpointChange[] = [];
  const stop = index.subscribe(ref, (c) => {
    raw.push(c);
    changes.push(
      [
        c.exists ? 'exists' : 'absent',
        ...c.added.map((e) => `+${e.key}`),
        ...c.removed.map((e) => `-${e.key}`),
        `size=${c.size}`,
      ].join(' '),
    );
  });
  return { changes, raw, stop };
}

const WEB: ServiceRef = { namespace: 'default', service: 'web', port: 80 };

test('subscribe gets the current set at once, with full endpoint details', () => {
  const catalog = new MemoryCatalog();
  catalog.services.put(service('web'));
  catalog.workloads.put(workload('web-1', { inboundPort: 4143 }));
  catalog.workloads.put(workload('web-2', { address: '10.0.0.2', namedPorts: { http: 9 } }));
  catalog.workloads.put(workload('api-1', { address: '10.0.0.3', labels: { app: 'api' } }));
  const index = new EndpointIndex(catalog, identityOf);
  const w = watch(index, WEB);
  assert.deepEqual(w.changes, ['exists +10.0.0.1:8080 +10.0.0.2:8080 size=2']);
  assert.deepEqual(w.raw[0]?.added[0], {
    key: '10.0.0.1:8080',
    address: '10.0.0.1',
    port: 8080,
    weight: DEFAULT_WEIGHT,
    pod: 'web-1',
    workload: 'web',
    serviceAccount: 'web-sa',
    identity: 'web-sa.default.id',
    inboundPort: 4143,
  });
  assert.equal(w.raw[0]?.added[1]?.inboundPort, 0, 'an inbound port not registered is 0');
  assert.equal(DEFAULT_WEIGHT, 10_000);
  assert.equal(index.watchers, 1);
  // A second subscriber to the same view gets the same snapshot.
  const w2 = watch(index, WEB);
  assert.deepEqual(w2.changes, w.changes);
  assert.equal(index.watchers, 2);
  index.close();
});

test('a workload added, relabelled or removed notifies only the views it touches, minimally', () => {
  const catalog = new MemoryCatalog();
  catalog.services.put(service('web'));
  catalog.services.put(service('api', { ports: [{ port: 81, targetPort: 'grpc' }] }));
  catalog.services.put(service('web', { namespace: 'prod' }));
  const index = new EndpointIndex(catalog, identityOf);
  const web = watch(index, WEB);
  const api = watch(index, { namespace: 'default', service: 'api', port: 81 });
  const prodWeb = watch(index, { namespace: 'prod', service: 'web', port: 80 });
  for (const w of [web, api, prodWeb]) assert.deepEqual(w.changes, ['exists size=0']);

  catalog.workloads.put(workload('web-1'));
  catalog.workloads.put(workload('web-2', { address: '10.0.0.2' }));
  assert.deepEqual(web.changes.slice(1), ['exists +10.0.0.1:8080 size=1', 'exists +10.0.0.2:8080 size=2']);
  assert.equal(api.changes.length, 1);
  assert.equal(prodWeb.changes.length, 1);

  // Relabelled from web to api: leaves one view, joins the other (on its named port).
  catalog.workloads.put(
    workload('web-2', { address: '10.0.0.2', labels: { app: 'api' }, namedPorts: { grpc: 7 } }),
  );
  assert.deepEqual(web.changes.slice(3), ['exists -10.0.0.2:8080 size=1']);
  assert.deepEqual(api.changes.slice(1), ['exists +10.0.0.2:7 size=1']);

  // A change that keeps every endpoint the same notifies no one.
  catalog.workloads.put(workload('web-1', { labels: { app: 'web', extra: 'x' } }));
  assert.equal(web.changes.length, 4);
  assert.equal(api.changes.length, 2);

  // A change in an endpoint's details re-adds it under the same key, removing nothing.
  catalog.workloads.put(workload('web-1', { labels: { app: 'web' }, serviceAccount: 'other' }));
  assert.deepEqual(web.changes.slice(4), ['exists +10.0.0.1:8080 size=1']);
  assert.equal(web.raw[4]?.added[0]?.identity, 'other.default.id');

  // A moved endpoint: the old address out, the new in, in one change.
  catalog.workloads.put(workload('web-1', { address: '10.0.0.9', serviceAccount: 'other' }));
  assert.deepEqual(web.changes.slice(5), ['exists +10.0.0.9:8080 -10.0.0.1:8080 size=1']);

  // Another namespace's workloads touch only that namespace's views.
  catalog.workloads.put(workload('web-p', { namespace: 'prod', address: '10.1.0.1' }));
  assert.deepEqual(prodWeb.changes.slice(1), ['exists +10.1.0.1:8080 size=1']);
  assert.equal(web.changes.length, 6);

  catalog.workloads.remove('default', 'web-1');
  assert.deepEqual(web.changes.slice(6), ['exists -10.0.0.9:8080 size=0']);
  catalog.workloads.remove('default', 'web-2');
  assert.deepEqual(api.changes.slice(2), ['exists -10.0.0.2:7 size=0']);
  assert.equal(prodWeb.changes.length, 2);
  assert.equal(web.changes.length, 7);
  index.close();
});

test('a workload without the target port (named port missing) is not an endpoint', () => {
  const catalog = new MemoryCatalog();
  catalog.services.put(service('web', { ports: [{ port: 80, targetPort: 'http' }] }));
  const index = new EndpointIndex(catalog, identityOf);
  const w = watch(index, WEB);
  catalog.workloads.put(workload('a'));
  assert.equal(w.changes.length, 1);
  catalog.workloads.put(workload('a', { namedPorts: { http: 8000 } }));
  catalog.workloads.put(workload('b', { address: '127.0.0.1', port: 4143 }));
  assert.deepEqual(w.changes.slice(1), ['exists +10.0.0.1:8000 size=1', 'exists +127.0.0.1:4143 size=2']);
  index.close();
});

test('a Service created later flips exists to true with its endpoints; deleted, to false', () => {
  const catalog = new MemoryCatalog();
  catalog.workloads.put(workload('web-1'));
  const index = new EndpointIndex(catalog, identityOf);
  const w = watch(index, WEB);
  assert.deepEqual(w.changes, ['absent size=0']);
  // Workload changes while the Service is absent tell nothing.
  catalog.workloads.put(workload('web-2', { address: '10.0.0.2' }));
  assert.equal(w.changes.length, 1);
  // Another Service in the namespace is not this one.
  catalog.services.put(service('api'));
  assert.equal(w.changes.length, 1);

  catalog.services.put(service('web'));
  assert.deepEqual(w.changes.slice(1), ['exists +10.0.0.1:8080 +10.0.0.2:8080 size=2']);

  // A new targetPort moves every endpoint in one change.
  catalog.services.put(service('web', { ports: [{ port: 80, targetPort: 9090 }] }));
  assert.deepEqual(w.changes.slice(2), [
    'exists +10.0.0.1:9090 +10.0.0.2:9090 -10.0.0.1:8080 -10.0.0.2:8080 size=2',
  ]);
  // A Service update that changes nothing for this port tells nothing.
  catalog.services.put(
    service('web', {
      ports: [
        { name: 'http', port: 80, targetPort: 9090 },
        { name: 'other', port: 81, targetPort: 1 },
      ],
    }),
  );
  assert.equal(w.changes.length, 3);

  catalog.services.remove('default', 'web');
  assert.deepEqual(w.changes.slice(3), ['absent -10.0.0.1:9090 -10.0.0.2:9090 size=0']);
  index.close();
});

test('a Service that loses or has no selector has no endpoints but exists', () => {
  const catalog = new MemoryCatalog();
  catalog.workloads.put(workload('web-1'));
  catalog.services.put(service('web'));
  const index = new EndpointIndex(catalog, identityOf);
  const w = watch(index, WEB);
  catalog.services.put(service('web', { selector: undefined }));
  assert.deepEqual(w.changes, ['exists +10.0.0.1:8080 size=1', 'exists -10.0.0.1:8080 size=0']);
  index.close();
});

test('a port the Service does not have does not exist, until the Service gains it', () => {
  const catalog = new MemoryCatalog();
  catalog.workloads.put(workload('web-1'));
  catalog.services.put(service('web'));
  const index = new EndpointIndex(catalog, identityOf);
  const w = watch(index, { ...WEB, port: 8080 });
  assert.deepEqual(w.changes, ['absent size=0']);
  catalog.workloads.put(workload('web-2', { address: '10.0.0.2' }));
  assert.equal(w.changes.length, 1);
  catalog.services.put(
    service('web', {
      ports: [
        { name: 'a', port: 80, targetPort: 8080 },
        { name: 'b', port: 8080, targetPort: 8080 },
      ],
    }),
  );
  assert.deepEqual(w.changes.slice(1), ['exists +10.0.0.1:8080 +10.0.0.2:8080 size=2']);
  catalog.services.put(service('web'));
  assert.deepEqual(w.changes.slice(2), ['absent -10.0.0.1:8080 -10.0.0.2:8080 size=0']);
  index.close();
});

test('a Service created with no matching workloads still flips exists', () => {
  const catalog = new MemoryCatalog();
  const index = new EndpointIndex(catalog, identityOf);
  const w = watch(index, WEB);
  catalog.services.put(service('web'));
  assert.deepEqual(w.changes, ['absent size=0', 'exists size=0']);
  catalog.services.remove('default', 'web');
  assert.deepEqual(w.changes.slice(2), ['absent size=0']);
  index.close();
});

test('unsubscribe stops notifications; the last one drops the view', () => {
  const catalog = new MemoryCatalog();
  catalog.services.put(service('web'));
  const index = new EndpointIndex(catalog, identityOf);
  const a = watch(index, WEB);
  const b = watch(index, WEB);
  a.stop();
  assert.equal(index.watchers, 1);
  catalog.workloads.put(workload('web-1'));
  assert.equal(a.changes.length, 1);
  assert.equal(b.changes.length, 2);
  b.stop();
  assert.equal(index.watchers, 0);
  catalog.workloads.put(workload('web-2', { address: '10.0.0.2' }));
  catalog.services.remove('default', 'web');
  assert.equal(b.changes.length, 2);
  // A new subscriber gets a set computed afresh.
  catalog.services.put(service('web'));
  const c = watch(index, WEB);
  assert.deepEqual(c.changes, ['exists +10.0.0.1:8080 +10.0.0.2:8080 size=2']);
  index.close();
  // Closed: the catalog's changes reach no one.
  catalog.workloads.remove('default', 'web-1');
  assert.equal(c.changes.length, 1);
});

test('works over a LocalCatalog: apply and register reach subscribers', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-endpoints-'));
  const catalog = new LocalCatalog(new SnapshotStore(dir), { leaseMs: 10_000 });
  const index = new EndpointIndex(catalog, identityOf);
  t.after(() => {
    index.close();
    catalog.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const w = watch(index, { namespace: 'default', service: 'web', port: 80 });
  catalog.register(workload('web-1', { address: '127.0.0.1', port: 4143 }));
  catalog.apply(
    validateDocuments([
      {
        source: 'svc.yaml',
        value: {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'web' },
          spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
        },
      },
    ]),
  );
  assert.deepEqual(w.changes, ['absent size=0', 'exists +127.0.0.1:4143 size=1']);
  // A new pod on the same address replaces the old one: out, then in.
  catalog.register(workload('web-2', { address: '127.0.0.1', port: 4143 }));
  assert.deepEqual(w.changes.slice(2), ['exists -127.0.0.1:4143 size=0', 'exists +127.0.0.1:4143 size=1']);
  assert.equal(w.raw[3]?.added[0]?.pod, 'web-2');
  catalog.deregister('default', 'web-2');
  assert.deepEqual(w.changes.slice(4), ['exists -127.0.0.1:4143 size=0']);
});

test('a starting (unready) workload is no endpoint; going ready adds it, unready again removes it', () => {
  const catalog = new MemoryCatalog();
  catalog.services.put(service('web'));
  const index = new EndpointIndex(catalog, identityOf);
  catalog.workloads.put(workload('early', { address: '10.0.0.7', ready: false }));
  const w = watch(index, WEB);
  assert.deepEqual(w.changes, ['exists size=0']);
  catalog.workloads.put(workload('web-1', { ready: false }));
  assert.equal(w.changes.length, 1, 'a starting registration notifies no one');
  catalog.workloads.put(workload('web-1', { ready: true }));
  assert.deepEqual(w.changes.slice(1), ['exists +10.0.0.1:8080 size=1']);
  catalog.workloads.put(workload('early', { address: '10.0.0.7', ready: true }));
  assert.deepEqual(w.changes.slice(2), ['exists +10.0.0.7:8080 size=2']);
  catalog.workloads.put(workload('web-1', { ready: false }));
  assert.deepEqual(w.changes.slice(3), ['exists -10.0.0.1:8080 size=1']);
  // A Service re-applied recomputes its set without the unready one.
  catalog.services.put(service('web', { ports: [{ port: 80, targetPort: 9090 }] }));
  assert.deepEqual(w.changes.slice(4), ['exists +10.0.0.7:9090 -10.0.0.7:8080 size=1']);
  catalog.workloads.remove('default', 'web-1');
  assert.equal(w.changes.length, 5, 'removing an unready workload changes no set');
  index.close();
});

/** The Service `web` with these annotations. */
function annotated(annotations: Record<string, string>, opts: Parameters<typeof service>[1] = {}): Service {
  const s = service('web', opts);
  return { ...s, metadata: { ...s.metadata, annotations } };
}

test("the Service's failure accrual: before the set, then on every change that changes it, even with no endpoint change", () => {
  const catalog = new MemoryCatalog();
  catalog.workloads.put(workload('web-1'));
  const index = new EndpointIndex(catalog, identityOf);
  const events: string[] = [];
  const stop = index.subscribe(
    WEB,
    (c) => events.push(`set size=${c.size}`),
    ({ accrual, problems }) =>
      events.push(
        `accrual ${accrual.kind === 'consecutive' ? `consecutive ${accrual.maxFailures}` : 'none'}${problems.length > 0 ? ` (${problems.length} problem)` : ''}`,
      ),
  );
  assert.deepEqual(events, ['accrual none', 'set size=0'], 'an unknown Service: none');

  catalog.services.put(annotated({ 'balancer.linkerd.io/failure-accrual': 'consecutive' }));
  assert.deepEqual(events.slice(2), ['accrual consecutive 7', 'set size=1'], 'the settings before the set');

  catalog.services.put(
    annotated({
      'balancer.linkerd.io/failure-accrual': 'consecutive',
      'balancer.weft.io/failure-accrual-consecutive-max-failures': '3',
    }),
  );
  assert.deepEqual(events.slice(4), ['accrual consecutive 3'], 'no endpoint changed: the settings alone');

  // Annotations that do not change the settings tell nothing.
  catalog.services.put(
    annotated({
      'balancer.linkerd.io/failure-accrual': 'consecutive',
      'balancer.weft.io/failure-accrual-consecutive-max-failures': '3',
      note: 'unrelated',
    }),
  );
  assert.equal(events.length, 5);

  // A stored bad value (written before apply checked it): none, with the problem.
  catalog.services.put(annotated({ 'balancer.linkerd.io/failure-accrual': 'always' }));
  assert.deepEqual(events.slice(5), ['accrual none (1 problem)']);

  catalog.services.put(annotated({ 'balancer.weft.io/failure-accrual': 'consecutive' }));
  catalog.services.remove('default', 'web');
  assert.deepEqual(events.slice(6), ['accrual consecutive 7', 'accrual none', 'set size=0']);

  // A second subscriber gets the current settings first, like the set.
  catalog.services.put(annotated({ 'balancer.weft.io/failure-accrual': 'consecutive' }));
  const later: string[] = [];
  const stop2 = index.subscribe(
    WEB,
    () => later.push('set'),
    ({ accrual }) => later.push(accrual.kind),
  );
  assert.deepEqual(later, ['consecutive', 'set']);
  stop();
  stop2();
  index.close();
});
