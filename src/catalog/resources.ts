import { z } from 'zod';
import {
  dns1035LabelError,
  dns1123LabelError,
  labelKeyError,
  labelValueError,
  portNameError,
} from './names.js';

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

/** Fields a stored object carries that `weft get -o yaml` prints; accepted back and ignored. */
const serverSetMetadata = {
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  creationTimestamp: z.string().optional(),
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

const port = z.number().int().min(1).max(65535);

const servicePort = z.strictObject({
  name: z.string().superRefine(refine(portNameError)).optional(),
  port,
  targetPort: z.union([port, z.string().superRefine(refine(portNameError))]).optional(),
  protocol: z.literal('TCP', { message: 'only TCP is supported' }).optional(),
  appProtocol: z.string().max(63).optional(),
});

export const serviceSchema = z.strictObject({
  apiVersion: z.literal('v1', { message: 'Service is apiVersion "v1"' }),
  kind: z.literal('Service'),
  metadata: metadata(dns1035LabelError),
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

/** The kinds that can be applied, with their schemas. Later kinds (profiles, policy) join here. */
export const KINDS = {
  Service: serviceSchema,
} as const;

export type Kind = keyof typeof KINDS;
export type Resource = Service;

export function isKind(kind: unknown): kind is Kind {
  return typeof kind === 'string' && Object.hasOwn(KINDS, kind);
}
