/**
 * Opaque Service ports end to end: `weft up`, Services and ServiceProfiles applied with
 * `weft apply` as Linkerd users write them, and GetProfile asked over real gRPC as a proxy
 * asks it. A port is opaque when the Service's opaque-ports annotation (weft's or
 * Linkerd's) or its ServiceProfile's `opaquePorts` lists it, or, without an annotation,
 * when it is one of the default opaque ports; the stream follows changes to either.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { controlPlaneClient } from '../../src/grpc/client.js';
import type { DestinationProfile } from '../../src/grpc/protos.js';
import {
  type ControlPlaneHandle,
  ownerArgs,
  startControlPlane,
  weft,
  weftOk,
} from '../helpers/controlplane.js';
import { openWatch, type Watch } from '../helpers/destination.js';
import { Cleanup, waitFor } from '../helpers/net.js';

const T = { timeout: 60_000 };

/** The db Service: port sql (5432 → 15432) and port admin (8080); `annotations` as given. */
function dbService(annotations: Record<string, string>): string {
  return [
    'apiVersion: v1',
    'kind: Service',
    'metadata:',
    '  name: db',
    '  namespace: shop',
    ...(Object.keys(annotations).length > 0 ? ['  annotations:'] : []),
    ...Object.entries(annotations).map(([k, v]) => `    ${k}: "${v}"`),
    'spec:',
    '  selector: {app: db}',
    '  ports:',
    '  - {name: sql, port: 5432, targetPort: 15432}',
    '  - {name: admin, port: 8080}',
    '',
  ].join('\n');
}

/** A ServiceProfile for cache as Linkerd's Go types write it, opaque on `port`. */
function cacheProfile(port: number): string {
  return `apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata:
  creationTimestamp: null
  name: cache.shop.svc.cluster.local
  namespace: shop
spec:
  opaquePorts:
    "${port}": {}
  routes:
  - condition:
      method: GET
      pathRegex: /stats
    name: GET /stats
`;
}

const CACHE = `apiVersion: v1
kind: Service
metadata:
  name: cache
  namespace: shop
spec:
  selector: {app: cache}
  ports:
  - {name: memcache, port: 7000}
  - {name: http, port: 7001}
`;

describe('opaque Service ports', () => {
  const cleanup = new Cleanup();
  let cp: ControlPlaneHandle;
  let client: grpc.Client;
  const watches: Array<Watch<DestinationProfile>> = [];

  const watch = (authority: string): Watch<DestinationProfile> => {
    const w = openWatch<DestinationProfile>(client, 'getProfile', authority, 'shop');
    watches.push(w);
    return w;
  };
  /** Waits for the stream's `n`th profile and returns it. */
  const nth = async (w: Watch<DestinationProfile>, n: number, what: string): Promise<DestinationProfile> => {
    await waitFor(() => w.messages.length >= n || w.error !== undefined, what, 10_000);
    assert.equal(w.error, undefined, `${what}: ${w.error?.message}`);
    return w.messages[n - 1] as DestinationProfile;
  };

  before(async () => {
    cp = await startControlPlane({ cleanup });
    client = controlPlaneClient('destination', cp.grpc);
    await weftOk(
      cp,
      ['apply', '-f', '-'],
      [dbService({ 'config.linkerd.io/opaque-ports': 'sql' }), CACHE].join('---\n'),
    );
  });

  after(async () => {
    for (const w of watches) w.cancel();
    client?.close();
    await cleanup.run();
  });

  test("Linkerd's annotation on the Service makes the named port opaque, and only it", T, async () => {
    const sql = await nth(watch('db.shop.svc.cluster.local:5432'), 1, 'the profile of db:5432');
    assert.equal(sql.fullyQualifiedName, 'db.shop.svc.cluster.local');
    assert.equal(sql.opaqueProtocol, true, 'sql is the Service port 5432');
    assert.deepEqual(sql.routes, [], 'no ServiceProfile or HTTPRoute: an empty, opaque profile');
    const admin = await nth(watch('db.shop:8080'), 1, 'the profile of db:8080');
    assert.equal(admin.opaqueProtocol, false);
    // The annotation lists Service ports: the targetPort is no Service port of db.
    const target = await nth(watch('db.shop:15432'), 1, 'the profile of db:15432');
    assert.equal(target.opaqueProtocol, false);
  });

  test(
    "the stream follows the annotation: weft's wins over Linkerd's, and none means the defaults",
    T,
    async () => {
      const w = watch('db.shop.svc.cluster.local:5432');
      assert.equal((await nth(w, 1, 'the first profile')).opaqueProtocol, true);
      await weftOk(
        cp,
        ['apply', '-f', '-'],
        dbService({ 'config.linkerd.io/opaque-ports': 'sql', 'config.weft.io/opaque-ports': 'admin' }),
      );
      assert.equal((await nth(w, 2, "the update for weft's annotation")).opaqueProtocol, false);
      // No annotation at all: 5432 (PostgreSQL) is one of the default opaque ports.
      await weftOk(cp, ['apply', '-f', '-'], dbService({}));
      assert.equal((await nth(w, 3, 'the update for no annotation')).opaqueProtocol, true);
      assert.equal(w.messages.length, 3);
    },
  );

  test("a ServiceProfile's opaquePorts make its port opaque; the stream follows the profile", T, async () => {
    const w = watch('cache.shop.svc.cluster.local:7000');
    const first = await nth(w, 1, 'the profile of cache:7000');
    assert.equal(first.opaqueProtocol, false);
    await weftOk(cp, ['apply', '-f', '-'], cacheProfile(7000));
    const opaque = await nth(w, 2, 'the update for the ServiceProfile');
    assert.equal(opaque.opaqueProtocol, true);
    assert.equal(opaque.source, 'ServiceProfile shop/cache.shop.svc.cluster.local');
    assert.deepEqual(
      opaque.routes.map((r) => r.name),
      ['GET /stats'],
    );
    await weftOk(cp, ['apply', '-f', '-'], cacheProfile(7001));
    assert.equal((await nth(w, 3, 'the update for the changed profile')).opaqueProtocol, false);
    const http = await nth(watch('cache.shop:7001'), 1, 'the profile of cache:7001');
    assert.equal(http.opaqueProtocol, true);
  });

  test(
    'weft apply refuses a bad opaque-ports annotation, naming the document and annotation',
    T,
    async () => {
      const r = await weft(['apply', '-f', '-', ...ownerArgs(cp)], {
        input: dbService({ 'config.linkerd.io/opaque-ports': 'sql,mysql' }),
      });
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(
        r.stderr,
        /stdin \(Service db\): metadata\.annotations\.config\.linkerd\.io\/opaque-ports: "mysql" is not a port, a port range \(1-65535, or lo-hi like 9000-9100\) or a port name \(sql, admin\)/,
      );
    },
  );
});
