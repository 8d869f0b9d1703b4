import { z } from 'zod';
import { parseDuration } from '../util/duration.js';
import { portSpecProblem } from '../util/port-specs.js';

/**
 * The ServiceProfile resource: Linkerd's shape, in our API group `weft.io/v1alpha2`, with
 * Linkerd's own `linkerd.io/v1alpha2` accepted as it is. A profile describes the routes of
 * the service its name is the fully qualified name of (`web-svc.emojivoto.svc.cluster.local`):
 * how requests are matched to routes, which responses are failures, which routes may be
 * retried and within what budget, how long a route may take, and where shares of the
 * traffic go instead (`dstOverrides`), and which of its ports carry opaque TCP
 * (`opaquePorts`). Every problem names its field.
 */

export const PROFILE_API_VERSIONS = ['weft.io/v1alpha2', 'linkerd.io/v1alpha2'] as const;

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];

const durationText = z.string().superRefine((text, ctx) => {
  try {
    if (parseDuration(text, 'duration') <= 0) ctx.addIssue({ code: 'custom', message: 'must be above zero' });
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (use e.g. 300ms, 10s, 1m)` });
  }
});

/** A path regex as the proxy uses it: the whole path must match. */
const pathRegex = z.string().superRefine((text, ctx) => {
  try {
    new RegExp(`^(?:${text})$`, 'u');
  } catch (err) {
    // V8 quotes the pattern it compiled, which is ours (anchored), not the user's.
    const why = (err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
    ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${why}` });
  }
});

export interface RequestMatch {
  readonly method?: string;
  readonly pathRegex?: string;
  readonly all?: readonly RequestMatch[];
  readonly any?: readonly RequestMatch[];
  readonly not?: RequestMatch;
}

const requestMatch: z.ZodType<RequestMatch> = z.lazy(() =>
  z
    .strictObject({
      method: z.enum(METHODS, { message: `must be one of ${METHODS.join(', ')}` }).optional(),
      pathRegex: pathRegex.optional(),
      all: z.array(requestMatch).min(1).optional(),
      any: z.array(requestMatch).min(1).optional(),
      not: requestMatch.optional(),
    })
    .refine((m) => Object.keys(m).length > 0, {
      message: 'needs one of method, pathRegex, all, any or not',
    }),
);

export interface StatusRange {
  readonly min?: number;
  readonly max?: number;
}

export interface ResponseMatch {
  readonly status?: StatusRange;
  readonly all?: readonly ResponseMatch[];
  readonly any?: readonly ResponseMatch[];
  readonly not?: ResponseMatch;
}

const statusCode = z.number().int().min(100).max(599);

const statusRange = z
  .strictObject({ min: statusCode.optional(), max: statusCode.optional() })
  .refine((r) => r.min === undefined || r.max === undefined || r.min <= r.max, {
    message: 'min is above max',
  });

const responseMatch: z.ZodType<ResponseMatch> = z.lazy(() =>
  z
    .strictObject({
      status: statusRange.optional(),
      all: z.array(responseMatch).min(1).optional(),
      any: z.array(responseMatch).min(1).optional(),
      not: responseMatch.optional(),
    })
    .refine((m) => Object.keys(m).length > 0, { message: 'needs one of status, all, any or not' }),
);

const responseClass = z.strictObject({
  condition: responseMatch,
  isFailure: z.boolean().optional(),
});

const route = z.strictObject({
  name: z.string().min(1).max(253),
  condition: requestMatch,
  responseClasses: z.array(responseClass).max(64).optional(),
  isRetryable: z.boolean().optional(),
  timeout: durationText.optional(),
});

/**
 * A weight as Kubernetes writes quantities: `1`, `0.5`, `500m`, `10k`; in thousandths.
 * Undefined when it does not parse.
 */
export function parseWeight(weight: number | string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G)?$/.exec(String(weight).trim());
  if (!m) return undefined;
  const scale = { m: 1, '': 1000, k: 1e6, M: 1e9, G: 1e12 }[m[2] ?? ''] ?? 1000;
  const value = Math.round(Number(m[1]) * scale);
  return Number.isSafeInteger(value) ? value : undefined;
}

const dstOverride = z.strictObject({
  authority: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d{1,5})?$/i, { message: 'must be host or host:port' }),
  weight: z.union([z.number().min(0), z.string()]).superRefine((w, ctx) => {
    if (parseWeight(w) === undefined)
      ctx.addIssue({ code: 'custom', message: `"${w}" is not a weight (a quantity such as 1, 0.5 or 500m)` });
  }),
});

/**
 * `opaquePorts`, in the form Linkerd's Go type gives it (`map[uint32]struct{}`: ports as
 * keys, each `{}`, as in `{"3306": {}}`; a bare `3306:` is null, also accepted) or in the
 * form its CRD's schema gives it (a list of ports). List items may also be ranges.
 */
const opaquePorts = z
  .union([z.record(z.string(), z.unknown()), z.array(z.union([z.number(), z.string()]))], {
    message: 'must be a map of ports to {} (Linkerd\'s form: {"3306": {}}) or a list of ports',
  })
  .superRefine((ports, ctx) => {
    const problem = (path: PropertyKey, message: string): void => {
      ctx.addIssue({ code: 'custom', path: [path], message });
    };
    if (Array.isArray(ports)) {
      ports.forEach((item, i) => {
        const why = portSpecProblem(String(item).trim());
        if (why !== undefined) problem(i, why);
      });
      return;
    }
    for (const [key, value] of Object.entries(ports)) {
      if (!/^\d{1,5}$/.test(key) || Number(key) < 1 || Number(key) > 65535) {
        problem(key, `"${key}" is not a port (1-65535)`);
      } else if (
        value !== null &&
        !(typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0)
      ) {
        problem(key, 'must be {} (the port is listed by its key)');
      }
    }
  });

/** The ports and ranges a profile's `opaquePorts` lists, as port-specs items. */
export function profileOpaquePorts(spec: { readonly opaquePorts?: unknown }): string[] {
  const ports = spec.opaquePorts;
  if (ports === undefined || ports === null) return [];
  return Array.isArray(ports) ? ports.map((p) => String(p).trim()) : Object.keys(ports);
}

/** The highest status a range reaches, and the lowest. */
const bounds = (r: StatusRange): [number, number] => [r.min ?? 100, r.max ?? 599];

export const serviceProfileSpec = z
  .strictObject({
    routes: z.array(route).max(1000).optional(),
    retryBudget: z
      .strictObject({
        retryRatio: z.number().min(0).max(100),
        minRetriesPerSecond: z.number().int().min(0).max(1_000_000),
        ttl: durationText,
      })
      .optional(),
    dstOverrides: z.array(dstOverride).max(100).optional(),
    opaquePorts: opaquePorts.optional(),
  })
  .superRefine((spec, ctx) => {
    const names = new Map<string, number>();
    (spec.routes ?? []).forEach((r, i) => {
      const earlier = names.get(r.name);
      if (earlier !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['routes', i, 'name'],
          message: `duplicate route name "${r.name}" (also routes[${earlier}])`,
        });
      else names.set(r.name, i);
      // Plain status ranges of one route must not overlap: the first would always win.
      const plain = (r.responseClasses ?? []).flatMap((c, j) =>
        c.condition.status && Object.keys(c.condition).length === 1
          ? [[j, bounds(c.condition.status)] as const]
          : [],
      );
      plain.forEach(([j, [lo, hi]], a) => {
        for (const [k, [lo2, hi2]] of plain.slice(0, a)) {
          if (lo <= hi2 && lo2 <= hi)
            ctx.addIssue({
              code: 'custom',
              path: ['routes', i, 'responseClasses', j, 'condition', 'status'],
              message: `${lo}-${hi} overlaps responseClasses[${k}] (${lo2}-${hi2})`,
            });
        }
      });
    });
    const overrides = spec.dstOverrides ?? [];
    if (overrides.length > 0 && overrides.every((o) => parseWeight(o.weight) === 0)) {
      ctx.addIssue({
        code: 'custom',
        path: ['dstOverrides'],
        message: 'at least one weight must be above zero',
      });
    }
  });

export type ServiceProfileSpec = z.infer<typeof serviceProfileSpec>;
