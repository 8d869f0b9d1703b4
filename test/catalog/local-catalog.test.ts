import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { WatchEvent, Workload } from '../../src/catalog/catalog.js';
import {
  CatalogError,
  LocalCatalog,
  type LocalCatalogOptions,
} from '../../src/catalog/local/local-catalog.js';
import { SnapshotStore } from '../../src/catalog/local/store.js';
import type { Service } from '../../src/catalog/resources.js';
import { type ValidResource, validateDocuments } from '../../src/catalog/validate.js';
import { workload as podWorkload } from '../helpers/catalog.js';

const root = mkdtempSync(join(tmpdir(), 'weft-catalog-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `state-${++dirs}`);

const LEASE = 10_000;

/** A catalog in a new state dir with a clock the test moves; closed after the test. */
function open(
  t: { after: (fn: () => void) => void },
  dir = freshDir(),
  opts: Partial<LocalCatalogOptions> = {},
): { catalog: LocalCatalog; store: SnapshotStore; clock: { now: number } } {
  const clock = { now: 1_700_000_000_000 };
  const store = new SnapshotStore(dir);
  const catalog = new LocalCatalog(store, { leaseMs: LEASE, saveDelayMs: 5, now: () => clock.now, ...opts });
  t.after(() => catalog.close());
  return { catalog, store, clock };
}

function svc(
  name: string,
  extra: { namespace?: string; selector?: Record<string, string>; port?: number } = {},
) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, ...(extra.namespace ? { namespace: extra.namespace } : {}) },
    spec: { selector: extra.selector ?? { app: name }, ports: [{ port: extra.port ?? 80 }] },
  };
}

const valid = (...docs: unknown[]): ValidResource[] =>
  validateDocuments(docs.map((value, i) => ({ source: `doc ${i + 1}`, value })));

/** Loopback-style: the proxy's inbound listener on a fixed port fronts every Service port. */
const workload = (pod: string, extra: Partial<Workload> = {}): Workload =>
  podWorkload(pod, { address: '127.0.0.1', port: 5000, ...extra });

function record<T>(c: { watch(fn: (e: WatchEvent<T>) => void): () => void }): WatchEvent<T>[] {
  const events: WatchEvent<T>[] = [];
  c.watch((e) => events.push(e));
  events.length = 0; // only changes from here on
  return events;
}

const readState = (dir: string): { version: number; services: Service[]; workloads: Workload[] } =>
  JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));

test('apply creates, then reports unchanged, then configured, keeping uid and creationTimestamp', (t) => {
  const dir = freshDir();
  const { catalog, clock } = open(t, dir);
  const events = record(catalog.services);
  assert.deepEqual(catalog.apply(valid(svc('web'), svc('api', { namespace: 'prod' }))), [
    { kind: 'Service', namespace: 'default', name: 'web', action: 'created' },
    { kind: 'Service', namespace: 'prod', name: 'api', action: 'created' },
  ]);
  const web = catalog.services.get('default', 'web');
  assert.ok(web);
  assert.equal(web.metadata.resourceVersion, '1');
  assert.equal(catalog.services.get('prod', 'api')?.metadata.resourceVersion, '2');
  assert.equal(web.metadata.creationTimestamp, new Date(clock.now).toISOString());
  assert.match(web.metadata.uid, /^[0-9a-f-]{36}$/);
  assert.deepEqual(web.spec, {
    type: 'ClusterIP',
    selector: { app: 'web' },
    ports: [{ port: 80, targetPort: 80 }],
    clusterIP: '10.43.0.10',
  });
  assert.equal(catalog.services.get('prod', 'api')?.spec.clusterIP, '10.43.0.11');
  assert.deepEqual(
    events.map((e) => `${e.type} ${e.object.metadata.name}`),
    ['added web', 'added api'],
  );
  assert.equal(readState(dir).services.length, 2);

  events.length = 0;
  assert.deepEqual(
    catalog.apply(valid(svc('web'))).map((o) => o.action),
    ['unchanged'],
  );
  assert.equal(events.length, 0);
  assert.equal(catalog.services.get('default', 'web'), web, 'an unchanged object is not replaced');

  clock.now += 60_000;
  assert.deepEqual(
    catalog.apply(valid(svc('web', { port: 8080 }), svc('api', { namespace: 'prod' }))).map((o) => o.action),
    ['configured', 'unchanged'],
  );
  const web2 = catalog.services.get('default', 'web');
  assert.equal(web2?.metadata.uid, web.metadata.uid);
  assert.equal(web2?.metadata.creationTimestamp, web.metadata.creationTimestamp);
  assert.equal(web2?.metadata.resourceVersion, '3');
  assert.equal(web2?.spec.ports[0]?.port, 8080);
  assert.equal(events.length, 1);
  const [e] = events;
  assert.equal(e?.type, 'modified');
  assert.equal(e?.type === 'modified' ? e.old : undefined, web);
  assert.equal(readState(dir).services.find((s) => s.metadata.name === 'web')?.spec.ports[0]?.port, 8080);
});

test('a dry run reports what would happen and changes nothing', (t) => {
  const dir = freshDir();
  const { catalog } = open(t, dir);
  catalog.apply(valid(svc('web')));
  const before = readFileSync(join(dir, 'state.json'), 'utf8');
  const events = record(catalog.services);
  assert.deepEqual(
    catalog
      .apply(valid(svc('web', { port: 81 }), svc('new'), svc('x', { namespace: 'ns' })), true)
      .map((o) => o.action),
    ['configured', 'created', 'created'],
  );
  assert.equal(events.length, 0);
  assert.equal(catalog.services.list().length, 1);
  assert.equal(catalog.services.get('default', 'web')?.spec.ports[0]?.port, 80);
  assert.equal(readFileSync(join(dir, 'state.json'), 'utf8'), before);
  assert.equal(catalog.stats.saves, 1);
  // The dry run used no resource versions.
  catalog.apply(valid(svc('new')));
  assert.equal(catalog.services.get('default', 'new')?.metadata.resourceVersion, '2');
});

test('apply persists before watchers see it: a failed save changes nothing', (t) => {
  const dir = freshDir();
  const { catalog } = open(t, dir);
  catalog.apply(valid(svc('web')));
  const events = record(catalog.services);
  const saves = catalog.stats.saves;
  // The snapshot cannot be renamed over a directory.
  rmSync(join(dir, 'state.json'));
  mkdirSync(join(dir, 'state.json'));
  assert.throws(() => catalog.apply(valid(svc('web', { port: 81 }), svc('api'))));
  assert.equal(events.length, 0);
  assert.equal(catalog.services.list().length, 1);
  assert.equal(catalog.services.get('default', 'web')?.spec.ports[0]?.port, 80);
  assert.equal(catalog.services.get('default', 'api'), undefined);
  assert.equal(catalog.stats.saves, saves);
  // Delete is refused the same way.
  assert.throws(() => catalog.delete([{ kind: 'Service', namespace: 'default', name: 'web' }]));
  assert.ok(catalog.services.get('default', 'web'));
  assert.equal(events.length, 0);

  // Once the disk is back, the version numbering carries on from the last success.
  rmSync(join(dir, 'state.json'), { recursive: true });
  for (const f of readdirSync(dir)) rmSync(join(dir, f));
  assert.deepEqual(
    catalog.apply(valid(svc('web', { port: 81 }))).map((o) => o.action),
    ['configured'],
  );
  assert.equal(catalog.services.get('default', 'web')?.metadata.resourceVersion, '2');
  assert.equal(events.length, 1);
});

test('a restart restores services and workloads; workloads get a fresh lease', (t) => {
  const dir = freshDir();
  const first = open(t, dir);
  first.catalog.apply(valid(svc('web'), svc('api', { namespace: 'prod' })));
  first.catalog.register(workload('web-1'));
  first.catalog.register(workload('web-2', { port: 5001, namedPorts: { http: 5001 } }));
  first.catalog.close(); // writes the pending registrations
  const saved = readState(dir);
  assert.equal(saved.version, 1);
  assert.deepEqual(saved.workloads.map((w) => w.pod).sort(), ['web-1', 'web-2']);

  // Far past the old leases: the restarted catalog still keeps them for a whole lease.
  const clock = { now: first.clock.now + 5 * LEASE };
  const restartedAt = clock.now;
  const again = new LocalCatalog(new SnapshotStore(dir), { leaseMs: LEASE, now: () => clock.now });
  t.after(() => again.close());
  assert.deepEqual(
    again.services
      .list()
      .map((s) => `${s.metadata.namespace}/${s.metadata.name}`)
      .sort(),
    ['default/web', 'prod/api'],
  );
  assert.deepEqual(
    again.workloads.get('default', 'web-2'),
    workload('web-2', { port: 5001, namedPorts: { http: 5001 } }),
  );
  clock.now = restartedAt + LEASE - 1;
  again.expireLeases();
  assert.equal(again.workloads.list().length, 2);
  clock.now = restartedAt + LEASE;
  again.expireLeases();
  assert.equal(again.workloads.list().length, 0);
  // Resource versions carry on after the highest restored.
  assert.deepEqual(
    again.apply(valid(svc('new'))).map((o) => o.action),
    ['created'],
  );
  assert.equal(again.services.get('default', 'new')?.metadata.resourceVersion, '3');
  assert.equal(again.apply(valid(svc('web')))[0]?.action, 'unchanged');
});

test('delete refuses the whole batch when any object is missing, unless ignoreNotFound', (t) => {
  const dir = freshDir();
  const { catalog } = open(t, dir);
  catalog.apply(valid(svc('web'), svc('api')));
  const events = record(catalog.services);
  const refs = [
    { kind: 'Service' as const, namespace: 'default', name: 'web' },
    { kind: 'Service' as const, namespace: 'default', name: 'gone' },
    { kind: 'Service' as const, namespace: 'prod', name: 'api' },
  ];
  assert.throws(
    () => catalog.delete(refs),
    (err: unknown) =>
      err instanceof CatalogError &&
      err.message === 'Service default/gone not found\nService prod/api not found\nnothing was deleted',
  );
  assert.equal(catalog.services.list().length, 2);
  assert.equal(events.length, 0);

  assert.deepEqual(
    catalog.delete(refs, true).map((o) => `${o.namespace}/${o.name} ${o.action}`),
    ['default/web deleted', 'default/gone not found', 'prod/api not found'],
  );
  assert.deepEqual(
    catalog.services.list().map((s) => s.metadata.name),
    ['api'],
  );
  assert.deepEqual(
    events.map((e) => `${e.type} ${e.object.metadata.name}`),
    ['deleted web'],
  );
  assert.deepEqual(
    readState(dir).services.map((s) => s.metadata.name),
    ['api'],
  );
  // Nothing to delete: nothing is written.
  const saves = catalog.stats.saves;
  assert.deepEqual(
    catalog.delete([refs[1] as (typeof refs)[number]], true).map((o) => o.action),
    ['not found'],
  );
  assert.equal(catalog.stats.saves, saves);
});

test('register, renew and deregister', async (t) => {
  const dir = freshDir();
  const { catalog } = open(t, dir);
  const events = record(catalog.workloads);
  const tokenFile = join(dir, 'tokens', 'default', 'web-1.token');
  assert.deepEqual(catalog.register(workload('web-1')), { ttlMs: LEASE, tokenFile });
  assert.deepEqual(catalog.workloads.get('default', 'web-1'), workload('web-1'));
  assert.equal(catalog.stats.registrations, 1);
  // A renewal with the same content is no change.
  assert.deepEqual(catalog.register(workload('web-1')), { ttlMs: LEASE, tokenFile });
  assert.equal(catalog.stats.registrations, 1);
  assert.equal(events.length, 1);
  // A changed registration is an update.
  catalog.register(workload('web-1', { labels: { app: 'web', v: '2' } }));
  assert.equal(catalog.stats.registrations, 2);
  assert.deepEqual(
    events.map((e) => e.type),
    ['added', 'modified'],
  );
  // Registrations are written shortly after, not at once.
  await waitUntil(() => {
    try {
      return readState(dir).workloads[0]?.labels.v === '2';
    } catch {
      return false;
    }
  });
  assert.equal(catalog.deregister('default', 'web-1'), true);
  assert.equal(catalog.deregister('default', 'web-1'), false);
  assert.equal(catalog.workloads.get('default', 'web-1'), undefined);
  assert.deepEqual(
    events.map((e) => e.type),
    ['added', 'modified', 'deleted'],
  );
  await waitUntil(() => readState(dir).workloads.length === 0);
});

async function waitUntil(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail('condition not met within 5s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('leases expire at their deadline unless renewed', (t) => {
  const { catalog, clock } = open(t);
  const start = clock.now;
  catalog.register(workload('a', { port: 1 }));
  clock.now = start + 4000;
  catalog.register(workload('b', { port: 2 }));
  clock.now = start + 6000;
  catalog.register(workload('a', { port: 1 })); // renewal: a now lives until start + 16000
  const events = record(catalog.workloads);

  clock.now = start + LEASE;
  catalog.expireLeases();
  assert.deepEqual(
    catalog.workloads
      .list()
      .map((w) => w.pod)
      .sort(),
    ['a', 'b'],
  );
  clock.now = start + 4000 + LEASE;
  catalog.expireLeases();
  assert.deepEqual(
    catalog.workloads.list().map((w) => w.pod),
    ['a'],
  );
  assert.deepEqual(
    events.map((e) => `${e.type} ${e.object.pod}`),
    ['deleted b'],
  );
  assert.equal(catalog.stats.expirations, 1);
  clock.now = start + 6000 + LEASE - 1;
  catalog.expireLeases();
  assert.equal(catalog.workloads.list().length, 1);
  clock.now = start + 6000 + LEASE;
  catalog.expireLeases();
  assert.equal(catalog.workloads.list().length, 0);
  assert.equal(catalog.stats.expirations, 2);
});

test('a deregistered workload registering again gets a new lease', (t) => {
  const { catalog, clock } = open(t);
  const start = clock.now;
  catalog.register(workload('a'));
  catalog.deregister('default', 'a');
  clock.now = start + LEASE - 1;
  catalog.register(workload('a'));
  clock.now = start + LEASE + 1;
  catalog.expireLeases();
  assert.ok(catalog.workloads.get('default', 'a'));
});

test('a new pod on the same address:port replaces the old one at once', (t) => {
  const { catalog, clock } = open(t);
  catalog.register(workload('web-old'));
  catalog.register(workload('other-port', { port: 5001 }));
  const events = record(catalog.workloads);
  catalog.register(workload('web-new'));
  assert.equal(catalog.workloads.get('default', 'web-old'), undefined);
  assert.ok(catalog.workloads.get('default', 'web-new'));
  assert.ok(catalog.workloads.get('default', 'other-port'));
  assert.deepEqual(
    events.map((e) => `${e.type} ${e.object.namespace}/${e.object.pod}`),
    ['deleted default/web-old', 'added default/web-new'],
  );
  // An address:port is one instance whatever the namespace.
  catalog.register(workload('web-prod', { namespace: 'prod' }));
  assert.deepEqual(
    events.slice(2).map((e) => `${e.type} ${e.object.namespace}/${e.object.pod}`),
    ['deleted default/web-new', 'added prod/web-prod'],
  );
  // The replaced pods' leases went with them: only the two live ones expire.
  clock.now += LEASE;
  catalog.expireLeases();
  assert.equal(catalog.workloads.list().length, 0);
  assert.equal(catalog.stats.expirations, 2);
});

test('instances still starting on one address do not replace each other (nor revoke their tokens)', (t) => {
  const { catalog } = open(t);
  // Loopback proxies register port 0 until their listeners are open.
  const a = catalog.register(workload('a', { address: '127.0.0.1', port: 0, ready: false }));
  const b = catalog.register(workload('b', { address: '127.0.0.1', port: 0, ready: false }));
  assert.deepEqual(
    catalog.workloads
      .list()
      .map((w) => w.pod)
      .sort(),
    ['a', 'b'],
  );
  assert.ok(existsSync(a.tokenFile) && existsSync(b.tokenFile), 'both tokens are kept');
  // Ready on their own ports, they are two endpoints.
  catalog.register(workload('a', { address: '127.0.0.1', port: 5001 }));
  catalog.register(workload('b', { address: '127.0.0.1', port: 5002 }));
  assert.deepEqual(
    catalog.workloads
      .list()
      .map((w) => w.pod)
      .sort(),
    ['a', 'b'],
  );
});

test('state.json is 0600 in a 0700 directory, written atomically with no temp files left', (t) => {
  const dir = join(freshDir(), 'nested');
  const { catalog } = open(t, dir);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  catalog.apply(valid(svc('web')));
  catalog.apply(valid(svc('api')));
  assert.equal(statSync(join(dir, 'state.json')).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir), ['state.json']);
});

test('SnapshotStore: empty when absent, round-trips, and a corrupt file is named', () => {
  const dir = freshDir();
  const store = new SnapshotStore(dir);
  assert.equal(store.path, join(dir, 'state.json'));
  assert.deepEqual(store.load(), {
    version: 1,
    services: [],
    deployments: [],
    serviceProfiles: [],
    httpRoutes: [],
    workloads: [],
  });
  store.save({
    version: 1,
    services: [],
    deployments: [],
    serviceProfiles: [],
    httpRoutes: [],
    workloads: [workload('a')],
  });
  assert.deepEqual(store.load(), {
    version: 1,
    services: [],
    deployments: [],
    serviceProfiles: [],
    httpRoutes: [],
    workloads: [workload('a')],
  });
  // Missing lists (state written before a kind existed) read as empty.
  writeFileSync(store.path, '{"version":1}');
  assert.deepEqual(store.load(), {
    version: 1,
    services: [],
    deployments: [],
    serviceProfiles: [],
    httpRoutes: [],
    workloads: [],
  });

  writeFileSync(store.path, '{"version":1, "services": [');
  assert.throws(
    () => store.load(),
    (err: Error) =>
      err.message.startsWith(`${store.path} is not valid JSON (`) &&
      err.message.endsWith('; move it aside to start empty'),
  );
  for (const text of [
    '{"version":2}',
    'null',
    '3',
    '{"version":1,"services":{}}',
    '{"version":1,"httpRoutes":7}',
  ]) {
    writeFileSync(store.path, text);
    assert.throws(
      () => store.load(),
      (err: Error) =>
        err.message.startsWith(store.path) && err.message.endsWith('move it aside to start empty'),
      text,
    );
  }
  // The catalog does not start on a corrupt file.
  writeFileSync(store.path, 'not json');
  assert.throws(
    () => new LocalCatalog(store, { leaseMs: LEASE }),
    (err: Error) => err.message.includes(store.path),
  );
});

function deployment(name: string, extra: { replicas?: number; env?: string } = {}) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      ...(extra.replicas !== undefined ? { replicas: extra.replicas } : {}),
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'app',
              command: ['node', 'server.js'],
              workingDir: '/srv',
              ...(extra.env ? { env: [{ name: 'MODE', value: extra.env }] } : {}),
            },
          ],
        },
      },
    },
  };
}

test('Services get cluster IPs from the service subnet, the lowest free first, kept for life', (t) => {
  const dir = freshDir();
  const { catalog } = open(t, dir, { serviceCidr: '10.77.0.0/16' });
  catalog.apply(valid(svc('a'), svc('b')));
  const ip = (name: string): string | undefined => catalog.services.get('default', name)?.spec.clusterIP;
  assert.equal(ip('a'), '10.77.0.10');
  assert.equal(ip('b'), '10.77.0.11');
  // Applying again (without the field, as users do) keeps the address and changes nothing.
  assert.deepEqual(
    catalog.apply(valid(svc('a'))).map((o) => o.action),
    ['unchanged'],
  );
  assert.equal(catalog.apply(valid(svc('a', { port: 81 })))[0]?.action, 'configured');
  assert.equal(ip('a'), '10.77.0.10');
  // A requested address is granted when it is in the subnet and free.
  const pinned = { ...svc('c'), spec: { ...svc('c').spec, clusterIP: '10.77.3.4' } };
  catalog.apply(valid(pinned));
  assert.equal(ip('c'), '10.77.3.4');
  // Deleting frees the address for the next Service.
  catalog.delete([{ kind: 'Service', namespace: 'default', name: 'a' }]);
  catalog.apply(valid(svc('d')));
  assert.equal(ip('d'), '10.77.0.10');
  assert.equal(readState(dir).services.find((s) => s.metadata.name === 'd')?.spec.clusterIP, '10.77.0.10');
});

test('a cluster IP that cannot be granted refuses the whole batch, naming the Service and why', (t) => {
  const dir = freshDir();
  const { catalog } = open(t, dir);
  catalog.apply(valid(svc('a')));
  const withIp = (name: string, clusterIP: string) => ({
    ...svc(name),
    spec: { ...svc(name).spec, clusterIP },
  });
  const refused = (docs: unknown[], message: RegExp): void => {
    assert.throws(
      () => catalog.apply(valid(...docs)),
      (err: Error) => err instanceof CatalogError && message.test(err.message),
    );
  };
  refused(
    [svc('fresh'), withIp('b', '10.43.0.10')],
    /doc 2 \(Service b\): spec\.clusterIP: 10\.43\.0\.10 is already allocated \(to Service default\/a\)/,
  );
  refused(
    [withIp('b', '192.168.1.1')],
    /192\.168\.1\.1 is not in the valid range: the range of valid IPs is 10\.43\.0\.0\/16/,
  );
  refused([withIp('b', '10.43.0.1')], /not in the valid range/);
  refused([withIp('b', 'None')], /headless Services \("None"\) are not supported/);
  refused(
    [withIp('a', '10.43.0.99')],
    /doc 1 \(Service a\): spec\.clusterIP: field is immutable \(the Service holds 10\.43\.0\.10\)/,
  );
  // Nothing of a refused batch was kept: "fresh" does not exist, and its address is free.
  assert.equal(catalog.services.get('default', 'fresh'), undefined);
  assert.deepEqual(
    readState(dir).services.map((s) => s.metadata.name),
    ['a'],
  );
  catalog.apply(valid(svc('next')));
  assert.equal(catalog.services.get('default', 'next')?.spec.clusterIP, '10.43.0.11');
});

test('Services saved before cluster IPs get one at start, written back, and keep it across restarts', (t) => {
  const dir = freshDir();
  const first = open(t, dir);
  first.catalog.apply(valid(svc('a'), svc('b')));
  first.catalog.close();
  // As an older weft wrote it: no clusterIP.
  const state = readState(dir);
  for (const s of state.services) delete (s.spec as { clusterIP?: string }).clusterIP;
  writeFileSync(join(dir, 'state.json'), JSON.stringify(state));
  const again = open(t, dir).catalog;
  const ips = again.services
    .list()
    .map((s) => s.spec.clusterIP)
    .sort();
  assert.deepEqual(ips, ['10.43.0.10', '10.43.0.11']);
  assert.deepEqual(
    readState(dir)
      .services.map((s) => s.spec.clusterIP)
      .sort(),
    ips,
  );
  again.close();
  const third = open(t, dir).catalog;
  assert.deepEqual(
    third.services
      .list()
      .map((s) => s.spec.clusterIP)
      .sort(),
    ips,
  );
});

test('Deployments are applied, persisted, restored, watched and deleted like Services', (t) => {
  const dir = freshDir();
  const { catalog } = open(t, dir);
  const events = record(catalog.deployments);
  assert.deepEqual(
    catalog.apply(valid(deployment('web', { replicas: 2 }), svc('web'))).map((o) => `${o.kind} ${o.action}`),
    ['Deployment created', 'Service created'],
  );
  const web = catalog.deployments.get('default', 'web');
  assert.equal(web?.apiVersion, 'apps/v1');
  assert.equal(web?.spec.replicas, 2);
  assert.equal(web?.spec.template.spec.serviceAccountName, 'default');
  assert.deepEqual(web?.spec.template.spec.containers[0]?.command, ['node', 'server.js']);
  assert.equal(catalog.apply(valid(deployment('web', { replicas: 2 })))[0]?.action, 'unchanged');
  assert.equal(catalog.apply(valid(deployment('web', { replicas: 3 })))[0]?.action, 'configured');
  // A Deployment and a Service of the same name are different objects.
  catalog.delete([{ kind: 'Deployment', namespace: 'default', name: 'web' }]);
  assert.equal(catalog.deployments.get('default', 'web'), undefined);
  assert.ok(catalog.services.get('default', 'web'));
  assert.deepEqual(
    events.map((e) => `${e.type} ${e.type === 'deleted' ? '' : e.object.spec.replicas}`.trim()),
    ['added 2', 'modified 3', 'deleted'],
  );
  catalog.apply(valid(deployment('api', { env: 'x' })));
  const saved = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as {
    deployments: Array<{ metadata: { name: string } }>;
  };
  assert.deepEqual(
    saved.deployments.map((d) => d.metadata.name),
    ['api'],
  );
  catalog.close();
  const again = open(t, dir).catalog;
  assert.deepEqual(again.deployments.get('default', 'api')?.spec.template.spec.containers[0]?.env, [
    { name: 'MODE', value: 'x' },
  ]);
  assert.equal(again.apply(valid(deployment('api', { env: 'x' })))[0]?.action, 'unchanged');
});

test('ServiceProfiles are stored under their fully qualified names, persisted and restored', (t) => {
  const dir = freshDir();
  const { catalog } = open(t, dir);
  const sp = {
    apiVersion: 'linkerd.io/v1alpha2',
    kind: 'ServiceProfile',
    metadata: { name: 'web.default.svc.cluster.local' },
    spec: { routes: [{ name: 'GET /', condition: { method: 'GET', pathRegex: '/' } }] },
  };
  assert.equal(catalog.apply(valid(sp))[0]?.action, 'created');
  const stored = catalog.serviceProfiles.get('default', 'web.default.svc.cluster.local');
  assert.equal(stored?.apiVersion, 'weft.io/v1alpha2', 'stored in our group, whichever it came in');
  assert.equal(catalog.apply(valid({ ...sp, apiVersion: 'weft.io/v1alpha2' }))[0]?.action, 'unchanged');
  catalog.close();
  const again = open(t, dir).catalog;
  assert.deepEqual(again.serviceProfiles.get('default', 'web.default.svc.cluster.local')?.spec, sp.spec);
  again.delete([{ kind: 'ServiceProfile', namespace: 'default', name: 'web.default.svc.cluster.local' }]);
  assert.equal(again.serviceProfiles.list().length, 0);
});

test('HTTPRoutes are stored in v1 with defaults filled in, watched, persisted, restored and deleted', (t) => {
  const dir = freshDir();
  const { catalog } = open(t, dir);
  const events = record(catalog.httpRoutes);
  const route = {
    apiVersion: 'gateway.networking.k8s.io/v1beta1',
    kind: 'HTTPRoute',
    metadata: { name: 'web-route', namespace: 'shop', labels: { app: 'web' } },
    spec: {
      parentRefs: [{ group: 'core', kind: 'Service', name: 'web-svc', port: 80 }],
      rules: [{ matches: [{ path: { value: '/v2' } }], backendRefs: [{ name: 'web-v2', port: 80 }] }],
    },
  };
  const spec = {
    parentRefs: [{ group: '', kind: 'Service', name: 'web-svc', port: 80 }],
    hostnames: [],
    rules: [
      {
        matches: [{ path: { type: 'PathPrefix', value: '/v2' }, headers: [], queryParams: [] }],
        backendRefs: [{ group: '', kind: 'Service', name: 'web-v2', port: 80, weight: 1 }],
      },
    ],
  };
  assert.deepEqual(catalog.apply(valid(route)), [
    { kind: 'HTTPRoute', namespace: 'shop', name: 'web-route', action: 'created' },
  ]);
  const stored = catalog.httpRoutes.get('shop', 'web-route');
  assert.equal(stored?.apiVersion, 'gateway.networking.k8s.io/v1', 'stored in v1, whichever version came in');
  assert.deepEqual(stored?.spec, spec);
  assert.deepEqual(stored?.metadata.labels, { app: 'web' });
  assert.deepEqual(
    events.map((e) => `${e.type} ${e.object.metadata.name}`),
    ['added web-route'],
  );
  assert.equal(catalog.httpRoutes.list('default').length, 0, 'in its own namespace only');

  // The stored form (defaults written out) is the same route.
  const written = { ...route, apiVersion: 'gateway.networking.k8s.io/v1', spec };
  assert.equal(catalog.apply(valid(written))[0]?.action, 'unchanged');
  const weighted = {
    ...route,
    spec: { ...route.spec, rules: [{ backendRefs: [{ name: 'web-v2', port: 80, weight: 3 }] }] },
  };
  assert.equal(catalog.apply(valid(weighted))[0]?.action, 'configured');
  assert.equal(catalog.httpRoutes.get('shop', 'web-route')?.spec.rules[0]?.backendRefs[0]?.weight, 3);
  assert.equal(events.at(-1)?.type, 'modified');

  catalog.close();
  const again = open(t, dir).catalog;
  const restored = again.httpRoutes.get('shop', 'web-route');
  assert.equal(restored?.metadata.uid, stored?.metadata.uid);
  assert.equal(restored?.spec.rules[0]?.backendRefs[0]?.weight, 3);
  // Restored resource versions count: the next change gets a higher one.
  assert.equal(again.apply(valid(route))[0]?.action, 'configured');
  assert.ok(
    Number(again.httpRoutes.get('shop', 'web-route')?.metadata.resourceVersion) >
      Number(restored?.metadata.resourceVersion),
  );

  assert.deepEqual(again.delete([{ kind: 'HTTPRoute', namespace: 'shop', name: 'web-route' }]), [
    { kind: 'HTTPRoute', namespace: 'shop', name: 'web-route', action: 'deleted' },
  ]);
  assert.equal(again.httpRoutes.list().length, 0);
  again.close();
  assert.equal(open(t, dir).catalog.httpRoutes.list().length, 0, 'the deletion was persisted');
});
