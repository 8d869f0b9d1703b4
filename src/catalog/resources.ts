import { z } from 'zod';
import { readFailureAccrual } from './failure-accrual.js';
import {
  crossNamespaceIssues,
  HTTP_ROUTE_API_VERSIONS,
  type HTTPRouteSpec,
  httpRouteSpec,
} from './httproutes.js';
import {
  dns1035LabelError,
  dns1123LabelError,
  dns1123SubdomainError,
  labelKeyError,
  labelValueError,
  portNameError,
} from './names.js';
import { opaquePortsProblems } from './opaque-ports.js';
import { PROFILE_API_VERSIONS, type ServiceProfileSpec, serviceProfileSpec } from './profiles.js';

/**
 * The resources `weft apply` accepts, as Kubernetes-style documents. Each kind has a
 * strict schema: an unknown field is an error that names it, as `kubectl apply` does
 * with strict field validation.
 */

const refine =
  (check: (v: string) => string | undefined) =>
  (value: string, ctx: z.RefinementCtx): void => {
    const problem = check(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  };

const labelMap = z.record(z.string(), z.string()).superRefine((labels, ctx) => {
  for (const [k, v] of Object.entries(labels)) {
    const problem = labelKeyError(k) ?? labelValueError(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [k] });
  }
});

/**
 * Fields a stored object carries that `weft get -o yaml` prints; accepted back and ignored.
 * `creationTimestamp: null` is what Kubernetes' Go types write for an object not yet
 * created (`linkerd profile` output has it).
 */
const serverSetMetadata = {
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  creationTimestamp: z.string().nullable().optional(),
  generation: z.number().optional(),
};

const metadata = (nameCheck: (v: string) => string | undefined) =>
  z.strictObject({
    name: z.string().superRefine(refine(nameCheck)),
    namespace: z.string().superRefine(refine(dns1123LabelError)).optional(),
    labels: labelMap.optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    ...serverSetMetadata,
  });

/** Where a document without `metadata.namespace` goes. */
export const DEFAULT_NAMESPACE = 'default';

const port = z.number().int().min(1).max(65535);

const servicePort = z.strictObject({
  name: z.string().superRefine(refine(portNameError)).optional(),
  port,
  targetPort: z.union([port, z.string().superRefine(refine(portNameError))]).optional(),
  protocol: z.literal('TCP', { message: 'only TCP is supported' }).optional(),
  appProtocol: z.string().max(63).optional(),
});

/** A Service's annotations: free text, except the balancer's (failure accrual), which must be valid. */
const serviceAnnotations = z.record(z.string(), z.string()).superRefine((annotations, ctx) => {
  for (const { annotation, message } of readFailureAccrual(annotations).problems) {
    ctx.addIssue({ code: 'custom', message, path: [annotation] });
  }
});

const serviceObject = z.strictObject({
  apiVersion: z.literal('v1', { message: 'Service is apiVersion "v1"' }),
  kind: z.literal('Service'),
  metadata: metadata(dns1035LabelError).extend({ annotations: serviceAnnotations.optional() }),
  spec: z
    .strictObject({
      type: z.literal('ClusterIP', { message: 'only type ClusterIP is supported' }).optional(),
      selector: z.record(z.string(), z.string()).optional(),
      ports: z.array(servicePort).min(1, { message: 'a Service needs at least one port' }),
      clusterIP: z.string().optional(),
    })
    .superRefine((spec, ctx) => {
      const names = new Set<string>();
      const numbers = new Set<number>();
      spec.ports.forEach((p, i) => {
        if (spec.ports.length > 1 && p.name === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['ports', i, 'name'],
            message: 'required when a Service has more than one port',
          });
        }
        if (p.name !== undefined) {
          if (names.has(p.name))
            ctx.addIssue({
              code: 'custom',
              path: ['ports', i, 'name'],
              message: `duplicate port name "${p.name}"`,
            });
          names.add(p.name);
        }
        if (numbers.has(p.port))
          ctx.addIssue({ code: 'custom', path: ['ports', i, 'port'], message: `duplicate port ${p.port}` });
        numbers.add(p.port);
      });
    }),
});

/** A Service's opaque-ports annotations name its ports: checked against `spec.ports`. */
export const serviceSchema = serviceObject.superRefine((doc, ctx) => {
  const svc = { annotations: doc.metadata.annotations ?? {}, ports: doc.spec.ports };
  for (const { annotation, problem } of opaquePortsProblems(svc)) {
    ctx.addIssue({ code: 'custom', path: ['metadata', 'annotations', annotation], message: problem });
  }
});

export type ServiceDocument = z.infer<typeof serviceSchema>;

export interface ServicePort {
  readonly name?: string;
  readonly port: number;
  /** A number, or the name of a workload's port. */
  readonly targetPort: number | string;
  readonly appProtocol?: string;
}

export interface ObjectMeta {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly uid: string;
  readonly resourceVersion: string;
  readonly creationTimestamp: string;
}

/** A Service as the catalog stores it: defaults filled in. */
export interface Service {
  readonly apiVersion: 'v1';
  readonly kind: 'Service';
  readonly metadata: ObjectMeta;
  readonly spec: {
    readonly type: 'ClusterIP';
    /** Absent: the Service has no endpoints managed by the mesh. */
    readonly selector?: Readonly<Record<string, string>>;
    readonly ports: readonly ServicePort[];
    readonly clusterIP?: string;
  };
}

const envVar = z.strictObject({
  name: z.string().regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/, {
    message: "must consist of letters, digits, '_', '-' or '.', and not start with a digit",
  }),
  value: z.string().optional(),
});

const containerPort = z.strictObject({
  containerPort: port,
  name: z.string().superRefine(refine(portNameError)).optional(),
  protocol: z.literal('TCP', { message: 'only TCP is supported' }).optional(),
});

const container = z.strictObject({
  name: z.string().superRefine(refine(dns1123LabelError)),
  /** Kept for manifests shared with Kubernetes; the local platform runs `command`. */
  image: z.string().optional(),
  imagePullPolicy: z.string().optional(),
  command: z.array(z.string().min(1)).min(1, { message: 'needs at least the program to run' }).optional(),
  args: z.array(z.string()).optional(),
  workingDir: z
    .string()
    .refine((d) => d.startsWith('/'), { message: 'must be an absolute path' })
    .optional(),
  env: z.array(envVar).max(256).optional(),
  ports: z.array(containerPort).max(64).optional(),
  /** Accepted for manifests shared with Kubernetes; not enforced on this platform. */
  resources: z.record(z.string(), z.unknown()).optional(),
});

const podTemplate = z.strictObject({
  metadata: z.strictObject({
    labels: labelMap,
    annotations: z.record(z.string(), z.string()).optional(),
  }),
  spec: z.strictObject({
    containers: z
      .array(container)
      .length(1, { message: 'the local platform runs one application container per pod' }),
    serviceAccountName: z.string().superRefine(refine(dns1123LabelError)).optional(),
    restartPolicy: z.literal('Always', { message: "a Deployment's pods restart Always" }).optional(),
    terminationGracePeriodSeconds: z.number().int().min(0).max(300).optional(),
  }),
});

/** At most this many pods a workload on the local platform. */
export const MAX_REPLICAS = 20;

export const deploymentSchema = z.strictObject({
  apiVersion: z.literal('apps/v1', { message: 'Deployment is apiVersion "apps/v1"' }),
  kind: z.literal('Deployment'),
  metadata: metadata(dns1123LabelError),
  spec: z
    .strictObject({
      replicas: z
        .number()
        .int()
        .min(0)
        .max(MAX_REPLICAS, { message: `at most ${MAX_REPLICAS} pods a workload on this platform` })
        .optional(),
      selector: z.strictObject({ matchLabels: labelMap }),
      template: podTemplate,
    })
    .superRefine((spec, ctx) => {
      const labels = spec.template.metadata.labels;
      const wanted = Object.entries(spec.selector.matchLabels);
      if (wanted.length === 0) {
        ctx.addIssue({ code: 'custom', path: ['selector', 'matchLabels'], message: 'must not be empty' });
      } else if (!wanted.every(([k, v]) => labels[k] === v)) {
        ctx.addIssue({
          code: 'custom',
          path: ['template', 'metadata', 'labels'],
          message: '`selector` does not match template `labels`',
        });
      }
      spec.template.spec.containers.forEach((c, i) => {
        if (c.command === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['template', 'spec', 'containers', i, 'command'],
            message: 'required: the local platform runs a program, not an image',
          });
        }
      });
    }),
});

export type DeploymentDocument = z.infer<typeof deploymentSchema>;

export interface Container {
  readonly name: string;
  readonly image?: string;
  readonly command: readonly string[];
  readonly args: readonly string[];
  readonly workingDir?: string;
  readonly env: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  readonly ports: ReadonlyArray<{ readonly containerPort: number; readonly name?: string }>;
}

export interface DeploymentSpec {
  readonly replicas: number;
  readonly selector: { readonly matchLabels: Readonly<Record<string, string>> };
  readonly template: {
    readonly metadata: {
      readonly labels: Readonly<Record<string, string>>;
      readonly annotations: Readonly<Record<string, string>>;
    };
    readonly spec: {
      readonly containers: readonly Container[];
      readonly serviceAccountName: string;
      readonly terminationGracePeriodSeconds: number;
    };
  };
}

/** A Deployment as the catalog stores it: defaults filled in. */
export interface Deployment {
  readonly apiVersion: 'apps/v1';
  readonly kind: 'Deployment';
  readonly metadata: ObjectMeta;
  readonly spec: DeploymentSpec;
}

export const serviceProfileSchema = z.strictObject({
  apiVersion: z.enum(PROFILE_API_VERSIONS, {
    message: `ServiceProfile is apiVersion ${PROFILE_API_VERSIONS.map((v) => `"${v}"`).join(' or ')}`,
  }),
  kind: z.literal('ServiceProfile'),
  metadata: metadata(dns1123SubdomainError),
  spec: serviceProfileSpec,
});

export type ServiceProfileDocument = z.infer<typeof serviceProfileSchema>;

/** A ServiceProfile as the catalog stores it (in `weft.io/v1alpha2`, whichever group it came in). */
export interface ServiceProfile {
  readonly apiVersion: 'weft.io/v1alpha2';
  readonly kind: 'ServiceProfile';
  readonly metadata: ObjectMeta;
  readonly spec: ServiceProfileSpec;
}

export const httpRouteSchema = z
  .strictObject({
    apiVersion: z.enum(HTTP_ROUTE_API_VERSIONS, {
      message: `HTTPRoute is apiVersion ${HTTP_ROUTE_API_VERSIONS.map((v) => `"${v}"`).join(' or ')}`,
    }),
    kind: z.literal('HTTPRoute'),
    metadata: metadata(dns1123SubdomainError),
    spec: httpRouteSpec,
  })
  .superRefine((doc, ctx) =>
    crossNamespaceIssues(doc.metadata.namespace ?? DEFAULT_NAMESPACE, doc.spec, ctx),
  );

export type HTTPRouteDocument = z.infer<typeof httpRouteSchema>;

/** An HTTPRoute as the catalog stores it: in `gateway.networking.k8s.io/v1`, defaults filled in. */
export interface HTTPRoute {
  readonly apiVersion: 'gateway.networking.k8s.io/v1';
  readonly kind: 'HTTPRoute';
  readonly metadata: ObjectMeta;
  readonly spec: HTTPRouteSpec;
}

/** The kinds that can be applied, with their schemas. Later kinds (policy) join here. */
export const KINDS = {
  Service: serviceSchema,
  Deployment: deploymentSchema,
  ServiceProfile: serviceProfileSchema,
  HTTPRoute: httpRouteSchema,
} as const;

export const API_VERSIONS: Readonly<Record<Kind, string>> = {
  Service: 'v1',
  Deployment: 'apps/v1',
  ServiceProfile: 'weft.io/v1alpha2',
  HTTPRoute: 'gateway.networking.k8s.io/v1',
};

export type Kind = keyof typeof KINDS;
export type Resource = Service | Deployment | ServiceProfile | HTTPRoute;

export function isKind(kind: unknown): kind is Kind {
  return typeof kind === 'string' && Object.hasOwn(KINDS, kind);
}
