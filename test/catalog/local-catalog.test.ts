import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
  });
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
  assert.deepEqual(store.load(), { version: 1, services: [], workloads: [] });
  store.save({ version: 1, services: [], workloads: [workload('a')] });
  assert.deepEqual(store.load(), { version: 1, services: [], workloads: [workload('a')] });
  // Missing lists read as empty.
  writeFileSync(store.path, '{"version":1}');
  assert.deepEqual(store.load(), { version: 1, services: [], workloads: [] });

  writeFileSync(store.path, '{"version":1, "services": [');
  assert.throws(
    () => store.load(),
    (err: Error) =>
      err.message.startsWith(`${store.path} is not valid JSON (`) &&
      err.message.endsWith('; move it aside to start empty'),
  );
  for (const text of ['{"version":2}', 'null', '3', '{"version":1,"services":{}}']) {
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
