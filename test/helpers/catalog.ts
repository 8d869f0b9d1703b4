import assert from 'node:assert/strict';
import type { Catalog, Workload } from '../../src/catalog/catalog.js';
import { WatchableCollection } from '../../src/catalog/collection.js';
import type {
  Deployment,
  HTTPRoute,
  Service,
  ServicePort,
  ServiceProfile,
} from '../../src/catalog/resources.js';
import { type SourcedDocument, ValidationError, validateDocuments } from '../../src/catalog/validate.js';

/** A catalog the test fills by hand (what a platform backend would fill). */
export class MemoryCatalog implements Catalog {
  readonly services = new WatchableCollection<Service>((s) => s.metadata);
  readonly workloads = new WatchableCollection<Workload>((w) => ({ namespace: w.namespace, name: w.pod }));
  readonly deployments = new WatchableCollection<Deployment>((d) => d.metadata);
  readonly serviceProfiles = new WatchableCollection<ServiceProfile>((p) => p.metadata);
  readonly httpRoutes = new WatchableCollection<HTTPRoute>((r) => r.metadata);
}

/** A stored object's metadata, in namespace default unless given. */
function meta(name: string, namespace = 'default') {
  return {
    name,
    namespace,
    labels: {},
    annotations: {},
    uid: `uid-${name}`,
    resourceVersion: '1',
    creationTimestamp: '2024-01-01T00:00:00Z',
  };
}

/** A stored Deployment of `replicas` pods labelled app=<name>, run as service account <name>. */
export function deployment(name: string, replicas: number, namespace = 'default'): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(name, namespace),
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name }, annotations: {} },
        spec: { containers: [], serviceAccountName: name, terminationGracePeriodSeconds: 30 },
      },
    },
  };
}

/**
 * A stored Service: namespace default, selector app=<name> (`selector: undefined` for
 * none), port 80 → 8080, unless `opts` says otherwise.
 */
export function service(
  name: string,
  opts: {
    namespace?: string;
    selector?: Record<string, string>;
    ports?: ServicePort[];
    clusterIP?: string;
  } = {},
): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(name, opts.namespace),
    spec: {
      type: 'ClusterIP',
      ...('selector' in opts
        ? opts.selector
          ? { selector: opts.selector }
          : {}
        : { selector: { app: name } }),
      ports: opts.ports ?? [{ port: 80, targetPort: 8080 }],
      ...(opts.clusterIP !== undefined ? { clusterIP: opts.clusterIP } : {}),
    },
  };
}

/**
 * A workload instance for catalog tests: pod-style (its own address, port 0) in namespace
 * default, labelled app=web; `extra` overrides any field.
 */
export function workload(pod: string, extra: Partial<Workload> = {}): Workload {
  return {
    namespace: 'default',
    pod,
    workload: 'web',
    serviceAccount: 'default',
    labels: { app: 'web' },
    address: '10.0.0.1',
    port: 0,
    namedPorts: {},
    ready: true,
    ...extra,
  };
}

/** The problems a batch of documents is refused with; fails the test if it is accepted. */
export function validationProblems(docs: readonly SourcedDocument[]): readonly string[] {
  try {
    validateDocuments(docs);
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${String(err)}`);
    assert.equal(err.message, err.problems.join('\n'));
    return err.problems;
  }
  assert.fail('the batch was accepted');
}
