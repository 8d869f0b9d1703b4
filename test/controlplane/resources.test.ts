/**
 * The resource CLI against a running `weft up` (apply, get, delete), what the client
 * proxy makes of the names and endpoints it learns, and workload registrations and leases.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { startEchoApp } from '../helpers/apps.js';
import {
  type ControlPlaneHandle,
  controlPlaneArgs,
  controlPlaneMetric,
  makeTempDir,
  ownerArgs,
  type Replica,
  removeTempDir,
  serviceYaml,
  startClientProxy,
  startControlPlane,
  startReplica,
  weft,
  weftOk,
} from '../helpers/controlplane.js';
import { Cleanup, request, waitFor } from '../helpers/net.js';
import type { ProxyHandle } from '../helpers/proxy.js';

const T = { timeout: 30_000 };

interface ServiceJson {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
  };
  spec: { selector?: Record<string, string>; ports: Array<{ port: number; targetPort: number | string }> };
}

interface WorkloadJson {
  namespace: string;
  pod: string;
  workload: string;
  address: string;
  port: number;
  labels: Record<string, string>;
}

describe('weft apply, get and delete against weft up', () => {
  const cleanup = new Cleanup();
  const dir = makeTempDir('weft-manifests-');
  let cp: ControlPlaneHandle;
  let client: ProxyHandle;
  let replicas: Replica[];

  /** Writes `text` to `name` in the manifests dir and returns its path. */
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
    return path;
  };
  const cli = (args: string[], input?: string) =>
    weft([...args, ...ownerArgs(cp)], input === undefined ? {} : { input });
  const ok = (args: string[], input?: string) => weftOk(cp, args, input);
  /** The names `weft get services -A -o json` lists. */
  const serviceNames = async (): Promise<string[]> => {
    const list = JSON.parse(await ok(['get', 'services', '-A', '-o', 'json'])) as { items: ServiceJson[] };
    return list.items.map((s) => `${s.metadata.namespace}/${s.metadata.name}`).sort();
  };
  const failing = (r: { code: number | null; stdout: string; stderr: string }): string =>
    `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

  before(async () => {
    cleanup.add(() => removeTempDir(dir));
    cp = await startControlPlane({ cleanup });
    await ok(['apply', '-f', '-'], serviceYaml('web-svc', { namespace: 'shop' }));
    replicas = await Promise.all(
      ['web-1', 'web-2'].map((name) => startReplica(cp, { name, namespace: 'shop' }, cleanup)),
    );
    client = await startClientProxy(cp, 'shop', cleanup);
  });

  after(() => cleanup.run());

  test(
    'apply: created, then unchanged, then configured; get as table, json and yaml; delete',
    T,
    async () => {
      const path = file('api.yaml', serviceYaml('api-svc', { selector: { app: 'api' } }));
      assert.equal(await ok(['apply', '-f', path]), 'service/api-svc created\n');
      assert.equal(await ok(['apply', '-f', path]), 'service/api-svc unchanged\n');
      file('api.yaml', serviceYaml('api-svc', { selector: { app: 'api' }, targetPort: 9090 }));
      assert.equal(await ok(['apply', '-f', path]), 'service/api-svc configured\n');

      const tableOut = (await ok(['get', 'services'])).trimEnd().split('\n');
      assert.match(tableOut[0] ?? '', /^NAME\s+CLUSTER-IP\s+PORTS\s+SELECTOR\s+AGE$/);
      assert.equal(tableOut.length, 2, tableOut.join('\n'));
      assert.match(tableOut[1] ?? '', /^api-svc\s+10\.43\.\d+\.\d+\s+80→9090\/TCP\s+app=api\s+\d+s$/);

      const json = JSON.parse(await ok(['get', 'svc', 'api-svc', '-o', 'json'])) as ServiceJson;
      assert.equal(json.kind, 'Service');
      assert.equal(json.apiVersion, 'v1');
      assert.equal(json.metadata.name, 'api-svc');
      assert.equal(json.metadata.namespace, 'default');
      assert.match(json.metadata.uid, /^[0-9a-f-]{36}$/);
      assert.ok(Number(json.metadata.resourceVersion) > 0);
      assert.ok(Date.now() - Date.parse(json.metadata.creationTimestamp) < 60_000);
      assert.deepEqual(json.spec.ports, [{ port: 80, targetPort: 9090 }]);
      assert.deepEqual(json.spec.selector, { app: 'api' });
      const yamlText = await ok(['get', 'svc', 'api-svc', '-o', 'yaml']);
      assert.deepEqual(parseYaml(yamlText), json);
      // What get prints can be applied back as is.
      assert.equal(await ok(['apply', '-f', '-'], yamlText), 'service/api-svc unchanged\n');

      const list = JSON.parse(await ok(['get', 'services', '-A', '-o', 'json'])) as {
        kind: string;
        items: ServiceJson[];
      };
      assert.equal(list.kind, 'List');
      const all = list.items.map((s) => `${s.metadata.namespace}/${s.metadata.name}`).sort();
      assert.deepEqual(all, ['default/api-svc', 'shop/web-svc']);
      assert.match(await ok(['get', 'services', '-A']), /^NAMESPACE\s+NAME\s+CLUSTER-IP\s+PORTS/);

      // A ServiceProfile: listed by its fully qualified name, with its routes counted.
      const sp = file(
        'sp.yaml',
        [
          'apiVersion: linkerd.io/v1alpha2',
          'kind: ServiceProfile',
          'metadata: {name: api-svc.default.svc.cluster.local}',
          'spec:',
          '  routes:',
          '  - {name: GET /x, condition: {method: GET, pathRegex: /x}, isRetryable: true}',
          '  - {name: POST /y, condition: {method: POST}}',
          '',
        ].join('\n'),
      );
      assert.equal(
        await ok(['apply', '-f', sp]),
        'serviceprofile/api-svc.default.svc.cluster.local created\n',
      );
      const spTable = (await ok(['get', 'sp'])).trimEnd().split('\n');
      assert.match(spTable[0] ?? '', /^NAME\s+ROUTES\s+RETRY BUDGET\s+DST OVERRIDES\s+AGE$/);
      assert.match(spTable[1] ?? '', /^api-svc\.default\.svc\.cluster\.local\s+2\s+default\s+0\s+\d+s$/);
      assert.equal(
        await ok(['delete', '-f', sp]),
        'serviceprofile "api-svc.default.svc.cluster.local" deleted\n',
      );

      // An HTTPRoute of api-svc: listed with its parents and hostnames; what get prints applies back.
      const route = file(
        'route.yaml',
        [
          'apiVersion: gateway.networking.k8s.io/v1',
          'kind: HTTPRoute',
          'metadata: {name: api-route}',
          'spec:',
          '  parentRefs: [{group: "", kind: Service, name: api-svc, port: 80}, {group: core, kind: Service, name: web-svc}]',
          '  hostnames: [api.example.com]',
          '  rules:',
          '  - matches: [{path: {value: /v2}}]',
          '    backendRefs: [{name: api-v2, port: 80}]',
          '',
        ].join('\n'),
      );
      assert.equal(await ok(['apply', '-f', route]), 'httproute/api-route created\n');
      const routeTable = (await ok(['get', 'httproutes'])).trimEnd().split('\n');
      assert.match(routeTable[0] ?? '', /^NAME\s+PARENTS\s+HOSTNAMES\s+AGE$/);
      assert.match(routeTable[1] ?? '', /^api-route\s+api-svc:80,web-svc\s+api\.example\.com\s+\d+s$/);
      assert.equal(routeTable.length, 2, routeTable.join('\n'));
      assert.match(
        await ok(['get', 'httproute', '-A']),
        /^NAMESPACE\s+NAME\s+PARENTS\s+HOSTNAMES\s+AGE\ndefault\s+api-route\s/,
      );
      const routeYaml = await ok(['get', 'httproutes.gateway.networking.k8s.io', 'api-route', '-o', 'yaml']);
      const routeJson = parseYaml(routeYaml) as { apiVersion: string; spec: { rules: unknown[] } };
      assert.equal(routeJson.apiVersion, 'gateway.networking.k8s.io/v1');
      assert.deepEqual(routeJson.spec.rules, [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/v2' }, headers: [], queryParams: [] }],
          backendRefs: [{ group: '', kind: 'Service', name: 'api-v2', port: 80, weight: 1 }],
        },
      ]);
      assert.equal(await ok(['apply', '-f', '-'], routeYaml), 'httproute/api-route unchanged\n');
      const gateway = await cli(['apply', '-f', '-'], routeYaml.replace('kind: Service', 'kind: Gateway'));
      assert.equal(gateway.code, 1, failing(gateway));
      assert.match(
        gateway.stderr,
        /spec\.parentRefs\[0\]\.kind: only Service parents \(the mesh\) are supported/,
      );
      assert.equal(await ok(['delete', '-f', route]), 'httproute "api-route" deleted\n');

      assert.equal(await ok(['delete', '-f', path]), 'service "api-svc" deleted\n');
      const gone = await cli(['get', 'svc', 'api-svc']);
      assert.equal(gone.code, 1, failing(gone));
      assert.match(gone.stderr, /"api-svc" not found in namespace default/);
      const empty = await cli(['get', 'services']);
      assert.equal(empty.code, 0, failing(empty));
      assert.equal(empty.stdout, '');
      assert.match(empty.stderr, /No resources found in namespace default/);
    },
  );

  test('apply --dry-run reports what would change and changes nothing', T, async () => {
    const fresh = file('dry.yaml', serviceYaml('dry-svc'));
    assert.equal(await ok(['apply', '--dry-run', '-f', fresh]), 'service/dry-svc created (dry run)\n');
    const changed = file('web-changed.yaml', serviceYaml('web-svc', { namespace: 'shop', targetPort: 7000 }));
    assert.equal(
      await ok(['apply', '--dry-run', '-f', changed]),
      'service/web-svc configured (namespace shop) (dry run)\n',
    );
    assert.deepEqual(await serviceNames(), ['shop/web-svc']);
    const web = JSON.parse(await ok(['get', 'svc', 'web-svc', '-n', 'shop', '-o', 'json'])) as ServiceJson;
    assert.deepEqual(web.spec.ports, [{ port: 80, targetPort: 8080 }]);
  });

  test('invalid input is refused whole, naming the file, document and field', T, async () => {
    const syntax = file(
      'syntax.yaml',
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\n spec:\n  ports: []\n',
    );
    const kind = file('kind.yaml', 'apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: web\n');
    const fields = file(
      'fields.yaml',
      [
        'apiVersion: v1',
        'kind: Service',
        'metadata:',
        '  name: bad-port',
        'spec:',
        '  ports:',
        '    - port: 99999',
        '      protocl: TCP',
        '',
      ].join('\n'),
    );
    const dup = file('dup.yaml', `${serviceYaml('dup-svc')}---\n${serviceYaml('dup-svc')}`);
    const multi = file(
      'multi.yaml',
      `${serviceYaml('good-one')}---\n${serviceYaml('bad-one').replace('port: 80', 'port: 0')}---\n${serviceYaml('good-two')}`,
    );
    const [rSyntax, rKind, rFields, rDup, rMulti] = await Promise.all(
      [syntax, kind, fields, dup, multi].map((f) => cli(['apply', '-f', f])),
    );
    for (const r of [rSyntax, rKind, rFields, rDup, rMulti]) {
      assert.equal(r?.code, 1, failing(r as never));
      assert.equal(r?.stdout, '', 'nothing is reported as applied');
    }
    const s = (r: typeof rSyntax): string => r?.stderr ?? '';
    // YAML syntax: the file and line, refused before anything is sent.
    assert.ok(s(rSyntax).includes(`${syntax}: line 5`), s(rSyntax));
    assert.match(s(rSyntax), /nothing was sent\n$/);
    assert.ok(s(rKind).includes(`${kind}: unknown kind "StatefulSet"`), s(rKind));
    assert.match(s(rKind), /nothing was applied\n$/);
    // Every problem of a document, each with its field.
    assert.ok(s(rFields).includes(`${fields} (Service bad-port): spec.ports[0].port:`), s(rFields));
    assert.ok(
      s(rFields).includes(`${fields} (Service bad-port): spec.ports[0]: unknown field "protocl"`),
      s(rFields),
    );
    assert.match(s(rFields), /nothing was applied\n$/);
    assert.ok(
      s(rDup).includes(
        `${dup}, document 2 (Service dup-svc): duplicate: Service default/dup-svc is also defined in ${dup}, document 1`,
      ),
      s(rDup),
    );
    assert.ok(s(rMulti).includes(`${multi}, document 2 (Service bad-one): spec.ports[0].port:`), s(rMulti));
    assert.ok(!s(rMulti).includes('document 1'), `only the bad document is blamed:\n${s(rMulti)}`);
    // Not even the valid documents of those batches were applied.
    assert.deepEqual(await serviceNames(), ['shop/web-svc']);
  });

  test('apply reads a directory (its .yaml, .yml and .json files) and stdin', T, async () => {
    const d = join(dir, 'bundle');
    file('bundle/a.yaml', serviceYaml('dir-a'));
    file('bundle/b.yml', serviceYaml('dir-b'));
    file(
      'bundle/c.json',
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'dir-c' },
        spec: { ports: [{ port: 81 }] },
      }),
    );
    file('bundle/README.txt', 'not a manifest: ignored');
    file('bundle/nested/d.yaml', serviceYaml('dir-d'));
    assert.equal(
      await ok(['apply', '-f', d]),
      'service/dir-a created\nservice/dir-b created\nservice/dir-c created\n',
    );
    assert.equal(await ok(['apply', '-f', '-'], serviceYaml('from-stdin')), 'service/from-stdin created\n');
    const bad = await cli(['apply', '-f', '-'], serviceYaml('from-stdin').replace('port: 80', 'port: 99999'));
    assert.equal(bad.code, 1, failing(bad));
    assert.match(bad.stderr, /^weft: stdin \(Service from-stdin\): spec\.ports\[0\]\.port:/);
    assert.deepEqual(await serviceNames(), [
      'default/dir-a',
      'default/dir-b',
      'default/dir-c',
      'default/from-stdin',
      'shop/web-svc',
    ]);
    assert.equal(
      await ok(['delete', '-f', d, '-f', '-'], serviceYaml('from-stdin')),
      'service "dir-a" deleted\nservice "dir-b" deleted\nservice "dir-c" deleted\nservice "from-stdin" deleted\n',
    );
    assert.deepEqual(await serviceNames(), ['shop/web-svc']);
  });

  test('delete of a missing object fails, deleting nothing, unless --ignore-not-found', T, async () => {
    const keep = file('keep.yaml', serviceYaml('keep-svc'));
    await ok(['apply', '-f', keep]);
    const both = file('both.yaml', `${serviceYaml('keep-svc')}---\n${serviceYaml('ghost')}`);
    const r = await cli(['delete', '-f', both]);
    assert.equal(r.code, 1, failing(r));
    assert.match(r.stderr, /Service default\/ghost not found\nnothing was deleted/);
    assert.deepEqual(await serviceNames(), ['default/keep-svc', 'shop/web-svc']);
    assert.equal(
      await ok(['delete', '--ignore-not-found', '-f', both]),
      'service "keep-svc" deleted\nservice "ghost" not found\n',
    );
    assert.deepEqual(await serviceNames(), ['shop/web-svc']);
  });

  test(
    'a Service with no workloads: get endpoints shows <none>, requests wait 3 s then get 503',
    T,
    async () => {
      await ok(
        ['apply', '-f', '-'],
        serviceYaml('lonely-svc', { namespace: 'shop', selector: { app: 'nobody' } }),
      );
      const ep = await ok(['get', 'endpoints', 'lonely-svc', '-n', 'shop']);
      assert.match(ep, /^NAME\s+ENDPOINTS\nlonely-svc\s+<none>\n$/);
      const started = Date.now();
      const res = await request({
        host: client.outbound.host,
        port: client.outbound.port,
        path: '/',
        headers: { host: 'lonely-svc:80' },
      });
      const waited = Date.now() - started;
      assert.equal(res.status, 503);
      assert.match(String(res.headers['weft-proxy-error']), /no endpoint of lonely-svc:80 is available/);
      assert.ok(waited >= 2800 && waited < 6000, `answered after ${waited} ms (want about 3 s)`);
      await ok(['delete', '-f', '-'], serviceYaml('lonely-svc', { namespace: 'shop' }));
    },
  );

  test('Service names resolve as in Kubernetes DNS, from the client namespace', T, async () => {
    const ep = await ok(['get', 'endpoints', 'web-svc', '-n', 'shop']);
    for (const r of replicas) assert.ok(ep.includes(`127.0.0.1:${r.inbound.port}`), ep);
    const wl = JSON.parse(await ok(['get', 'workloads', '-n', 'shop', '-o', 'json'])) as {
      items: WorkloadJson[];
    };
    assert.deepEqual(
      wl.items.map((w) => [w.pod, w.workload, w.address, w.port, w.labels]).sort(),
      replicas.map((r) => [r.name, 'web', '127.0.0.1', r.inbound.port, { app: 'web' }]).sort(),
    );

    const names = ['web-svc:80', 'web-svc', 'web-svc.shop:80', 'web-svc.shop.svc.cluster.local:80'];
    for (const authority of names) {
      const seen = new Set<string>();
      for (let i = 0; i < 20; i++) {
        const absolute = i % 2 === 1;
        const res = await request({
          host: client.outbound.host,
          port: client.outbound.port,
          path: absolute ? `http://${authority}/` : '/',
          headers: { host: authority },
        });
        assert.equal(res.status, 200, `${authority}: ${res.status} ${res.body.toString()}`);
        seen.add(String(res.headers['x-replica']));
      }
      assert.deepEqual([...seen].sort(), ['web-1', 'web-2'], `${authority} reaches both replicas`);
    }
    // The short name is looked up in the client's namespace only: default has no web-svc.
    const other = await request({
      host: client.outbound.host,
      port: client.outbound.port,
      path: '/',
      headers: { host: 'web-svc.default:80' },
    });
    assert.ok(other.status === 502 || other.status === 504, `web-svc.default: ${other.status}`);
    assert.ok(other.headers['weft-proxy-error'], 'the proxy answered: the name went to DNS');
  });

  test('names the mesh does not know, like localhost:PORT, still go by DNS', T, async () => {
    const app = await startEchoApp();
    cleanup.add(() => app.close());
    const authority = `localhost:${app.port}`;
    for (const path of ['/x', `http://${authority}/y`]) {
      const res = await request({
        host: client.outbound.host,
        port: client.outbound.port,
        path,
        headers: { host: authority },
      });
      assert.equal(res.status, 200, res.body.toString());
      assert.equal(res.headers['weft-proxy-error'], undefined);
    }
    assert.equal(app.requests, 2);
  });

  test('a workload stopped with SIGTERM is deregistered at once', T, async () => {
    const r = await startReplica(cp, { name: 'term-1', app: 'lease', namespace: 'leases' }, cleanup);
    const listed = JSON.parse(
      await ok(['get', 'workloads', 'term-1', '-n', 'leases', '-o', 'json']),
    ) as WorkloadJson;
    assert.equal(listed.port, r.inbound.port);
    await r.stop('SIGTERM');
    assert.equal(await r.proxy.exited, 0);
    // Gone as soon as the proxy has exited, well within the 10 s lease.
    const after = await cli(['get', 'workloads', '-n', 'leases']);
    assert.equal(after.code, 0, failing(after));
    assert.ok(!after.stdout.includes('term-1'), after.stdout);
    assert.ok(
      cp.logs('workload deregistered').some((l) => l.pod === 'term-1'),
      'the control plane logged the deregistration',
    );
  });

  test('a workload whose proxy was SIGKILLed disappears when its lease lapses', T, async (t) => {
    const short = await startControlPlane({ leaseDuration: '1s' });
    cleanup.add(() => removeTempDir(short.stateDir));
    cleanup.add(() => short.kill());
    const r = await startReplica(short, { name: 'kill-1', app: 'lease' }, cleanup);
    const wl = await weftOk(short, ['get', 'workloads']);
    assert.match(wl, /^NAME\s+READY\s+WORKLOAD\s+ADDRESS\s+SERVICE ACCOUNT\s+LABELS\n/);
    assert.match(
      wl,
      new RegExp(
        `\\nkill-1\\s+true\\s+lease\\s+127\\.0\\.0\\.1:${r.inbound.port}\\s+default\\s+app=lease\\n`,
      ),
    );
    // Renewals (every 1/3 s) keep it registered past its first lease.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(await controlPlaneMetric(short, 'catalog_workloads'), 1, 'renewed past the first lease');

    const killedAt = await r.kill();
    await waitFor(
      async () => (await controlPlaneMetric(short, 'catalog_workloads')) === 0,
      'the lease to lapse',
      5000,
      20,
    );
    const gone = Date.now() - killedAt;
    t.diagnostic(`removed ${gone} ms after the kill`);
    assert.ok(gone < 2000, `removed ${gone} ms after the kill (lease 1 s)`);
    assert.ok(!short.logs('workload deregistered').some((l) => l.pod === 'kill-1'), 'no deregistration');
    const after = await weft(['get', 'workloads', ...ownerArgs(short)]);
    assert.equal(after.stdout, '');
    assert.match(after.stderr, /No resources found/);
  });

  test('a second weft up names the address the running one serves', T, async () => {
    const r = await weft(controlPlaneArgs(cp.stateDir));
    assert.equal(r.code, 1, failing(r));
    assert.ok(r.stderr.includes(`serving ${cp.grpcAddr}`), r.stderr);
  });
});
