import { isIP } from 'node:net';
import { z } from 'zod';
import { dns1035LabelError, dns1123LabelError, dns1123SubdomainError } from './names.js';

/**
 * The HTTPRoute resource of the Gateway API (`gateway.networking.k8s.io/v1`, with `v1beta1`
 * accepted as it is), as a mesh uses it (GAMMA): a route whose parents are Services routes
 * the traffic sent to those Services. Its rules match requests by path, headers, query
 * parameters and method, and send them to weighted Service backends, within timeouts.
 * Gateway parents, cross-namespace references and filters are refused, each naming its
 * field. `normalizeHTTPRouteSpec` fills in the API's defaults, so that the control plane
 * reads a route without deriving them again.
 */

export const HTTP_ROUTE_API_VERSIONS = [
  'gateway.networking.k8s.io/v1',
  'gateway.networking.k8s.io/v1beta1',
] as const;

/** The Gateway API's HTTPMethod values. */
export const HTTP_METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export type PathMatchType = 'Exact' | 'PathPrefix' | 'RegularExpression';
export type ValueMatchType = 'Exact' | 'RegularExpression';

/** A Service the route routes the traffic of; always in the route's own namespace. */
export interface HTTPRouteParentRef {
  readonly group: '';
  readonly kind: 'Service';
  readonly name: string;
  /** Absent: every port of the Service. */
  readonly port?: number;
}

/** A header or query parameter match. Header names match case-insensitively, query names exactly. */
export interface HTTPValueMatch {
  readonly type: ValueMatchType;
  readonly name: string;
  readonly value: string;
}

/** Every condition of a match must hold: path, and each header, query parameter and method. */
export interface HTTPRouteMatch {
  readonly path: { readonly type: PathMatchType; readonly value: string };
  readonly headers: readonly HTTPValueMatch[];
  readonly queryParams: readonly HTTPValueMatch[];
  readonly method?: HttpMethod;
}

/** A Service backend in the route's namespace; `weight` shares the rule's traffic (0: none). */
export interface HTTPBackendRef {
  readonly group: '';
  readonly kind: 'Service';
  readonly name: string;
  readonly port: number;
  readonly weight: number;
}

/** Gateway API durations as written (`gatewayDurationMs` reads them); "0s" means no timeout. */
export interface HTTPRouteTimeouts {
  readonly request?: string;
  readonly backendRequest?: string;
}

export interface HTTPRouteRule {
  readonly name?: string;
  /** At least one: a request matches the rule if it satisfies any of them. */
  readonly matches: readonly HTTPRouteMatch[];
  /** Empty: requests go to the parent Service itself. */
  readonly backendRefs: readonly HTTPBackendRef[];
  readonly timeouts?: HTTPRouteTimeouts;
}

/** An HTTPRoute's spec as the catalog stores it: every default filled in. */
export interface HTTPRouteSpec {
  readonly parentRefs: readonly HTTPRouteParentRef[];
  readonly hostnames: readonly string[];
  /** At least one rule. */
  readonly rules: readonly HTTPRouteRule[];
}

const MAX_WEIGHT = 1_000_000;
/** Across all rules, as the Gateway API's CRD checks it. */
const MAX_MATCHES_PER_ROUTE = 128;

const refine =
  (check: (v: string) => string | undefined) =>
  (value: string, ctx: z.RefinementCtx): void => {
    const problem = check(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  };

const port = z.number().int().min(1).max(65535);

/** The core API group, as the Gateway API writes it ("") or as some manifests do ("core"). */
const isCoreGroup = (group: string | undefined): boolean => group === '' || group === 'core';

const GATEWAY_DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const DURATION_UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/**
 * Milliseconds in a Gateway API duration (GEP-2257: one to four `<digits><h|m|s|ms>`,
 * summed as Go's time.ParseDuration does); undefined when it is not one.
 */
export function gatewayDurationMs(text: string): number | undefined {
  if (!GATEWAY_DURATION.test(text)) return undefined;
  let ms = 0;
  for (const [, digits, unit] of text.matchAll(/(\d+)(ms|h|m|s)/g)) {
    ms += Number(digits) * (DURATION_UNIT_MS[unit ?? 's'] ?? 1000);
  }
  return ms;
}

const duration = z.string().superRefine((text, ctx) => {
  if (gatewayDurationMs(text) === undefined)
    ctx.addIssue({
      code: 'custom',
      message: `"${text}" is not a Gateway API duration (1 to 4 parts of up to 5 digits and h, m, s or ms, e.g. 10s, 500ms, 1m30s)`,
    });
});

/** Why `text` does not compile as the proxy will compile it (flag u), if it does not. */
function regexProblem(text: string): string | undefined {
  try {
    new RegExp(text, 'u');
    return undefined;
  } catch (err) {
    // V8 repeats the pattern before its reason; the field already names it.
    const why = (err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
    return `not a valid regular expression: ${why}`;
  }
}

const PATH_CHARACTERS = /^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+$/;

/** The Gateway API's rules for Exact and PathPrefix values: an absolute, clean path. */
function plainPathProblem(value: string): string | undefined {
  if (!value.startsWith('/')) return 'must be an absolute path (start with "/")';
  const sequence = ['//', '/./', '/../', '%2f', '%2F', '#'].find((s) => value.includes(s));
  if (sequence) return `must not contain "${sequence}"`;
  const suffix = ['/..', '/.'].find((s) => value.endsWith(s));
  if (suffix) return `must not end with "${suffix}"`;
  if (!PATH_CHARACTERS.test(value)) {
    return "must hold only the characters of a URL path: letters, digits, -._~!$&'()*+,;=:@/ and %XX escapes";
  }
  return undefined;
}

const pathMatch = z
  .strictObject({
    type: z
      .enum(['Exact', 'PathPrefix', 'RegularExpression'], {
        message: 'must be Exact, PathPrefix or RegularExpression',
      })
      .optional(),
    value: z.string().max(1024).optional(),
  })
  .superRefine((path, ctx) => {
    const value = path.value ?? '/';
    const problem = path.type === 'RegularExpression' ? regexProblem(value) : plainPathProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', path: ['value'], message: problem });
  });

const TOKEN = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

/** A header or query parameter match; `what` names it in messages. */
const valueMatch = (what: string, maxValue: number) =>
  z
    .strictObject({
      type: z
        .enum(['Exact', 'RegularExpression'], { message: 'must be Exact or RegularExpression' })
        .optional(),
      name: z
        .string()
        .min(1)
        .max(256)
        .regex(TOKEN, { message: `must be ${what} name: letters, digits and !#$%&'*+-.^_\`|~` }),
      value: z.string().min(1).max(maxValue),
    })
    .superRefine((m, ctx) => {
      const problem = m.type === 'RegularExpression' ? regexProblem(m.value) : undefined;
      if (problem) ctx.addIssue({ code: 'custom', path: ['value'], message: problem });
    });

/** Issues for names that repeat in `items` (compared by `key`), at `field[i].name`; unnamed items are skipped. */
function duplicateNames(
  items: ReadonlyArray<{ name?: string | undefined }>,
  key: (name: string) => string,
  field: string,
  what: string,
  ctx: z.RefinementCtx,
): void {
  const first = new Map<string, number>();
  items.forEach((item, i) => {
    if (item.name === undefined) return;
    const k = key(item.name);
    const earlier = first.get(k);
    if (earlier === undefined) first.set(k, i);
    else
      ctx.addIssue({
        code: 'custom',
        path: [field, i, 'name'],
        message: `duplicate ${what} "${item.name}" (also ${field}[${earlier}])`,
      });
  });
}

const match = z
  .strictObject({
    path: pathMatch.optional(),
    headers: z.array(valueMatch('an HTTP header', 4096)).max(16).optional(),
    queryParams: z.array(valueMatch('a query parameter', 1024)).max(16).optional(),
    method: z.enum(HTTP_METHODS, { message: `must be one of ${HTTP_METHODS.join(', ')}` }).optional(),
  })
  .superRefine((m, ctx) => {
    // Header names are case-insensitive; query parameter names are not.
    duplicateNames(m.headers ?? [], (n) => n.toLowerCase(), 'headers', 'header', ctx);
    duplicateNames(m.queryParams ?? [], (n) => n, 'queryParams', 'query parameter', ctx);
  });

const NO_FILTERS = 'filters are not supported yet';
const filters = z.array(z.unknown()).max(0, { message: NO_FILTERS }).optional();

/** The fields parentRefs and backendRefs share: what they point at. */
const objectRefFields = {
  group: z.string().optional(),
  kind: z.string().optional(),
  name: z.string().superRefine(refine(dns1035LabelError)),
  namespace: z.string().superRefine(refine(dns1123LabelError)).optional(),
  port: port.optional(),
};

const backendRef = z
  .strictObject({
    ...objectRefFields,
    weight: z.number().int().min(0).max(MAX_WEIGHT).optional(),
    filters,
  })
  .superRefine((ref, ctx) => {
    if (!isCoreGroup(ref.group ?? '') || (ref.kind ?? 'Service') !== 'Service') {
      ctx.addIssue({
        code: 'custom',
        path: ['kind'],
        message: 'only Service backends (group "" or core, kind Service) are supported',
      });
    } else if (ref.port === undefined) {
      ctx.addIssue({ code: 'custom', path: ['port'], message: 'required for a Service backend' });
    }
  });

const timeouts = z
  .strictObject({ request: duration.optional(), backendRequest: duration.optional() })
  .superRefine((t, ctx) => {
    const request = t.request === undefined ? undefined : gatewayDurationMs(t.request);
    const backend = t.backendRequest === undefined ? undefined : gatewayDurationMs(t.backendRequest);
    // A zero request timeout is none, which any backendRequest fits within.
    if (request !== undefined && backend !== undefined && request !== 0 && backend > request) {
      ctx.addIssue({
        code: 'custom',
        path: ['backendRequest'],
        message: `must not be longer than request (${t.request})`,
      });
    }
  });

const rule = z
  .strictObject({
    name: z.string().superRefine(refine(dns1123SubdomainError)).optional(),
    matches: z.array(match).max(64).optional(),
    filters,
    backendRefs: z.array(backendRef).max(16).optional(),
    timeouts: timeouts.optional(),
  })
  .superRefine((r, ctx) => {
    const refs = r.backendRefs ?? [];
    if (refs.length > 0 && refs.every((b) => (b.weight ?? 1) === 0)) {
      ctx.addIssue({
        code: 'custom',
        path: ['backendRefs'],
        message: 'at least one weight must be above zero',
      });
    }
  });

const parentRef = z.strictObject(objectRefFields).superRefine((ref, ctx) => {
  // The Gateway API's defaults make a bare parentRef a Gateway's.
  const kind = ref.kind ?? 'Gateway';
  if (kind !== 'Service') {
    ctx.addIssue({
      code: 'custom',
      path: ['kind'],
      message: `only Service parents (the mesh) are supported, not ${kind}: set group: "" and kind: Service`,
    });
  } else if (!isCoreGroup(ref.group ?? 'gateway.networking.k8s.io')) {
    ctx.addIssue({
      code: 'custom',
      path: ['group'],
      message:
        'must be "" (or core) for a Service parent: without it, the group is gateway.networking.k8s.io',
    });
  }
});

const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const hostname = z
  .string()
  .min(1)
  .max(253)
  .superRefine((h, ctx) => {
    if (isIP(h) !== 0) ctx.addIssue({ code: 'custom', message: 'must be a host name, not an IP address' });
    else if (!HOSTNAME.test(h))
      ctx.addIssue({
        code: 'custom',
        message: 'must be a lowercase host name such as web.example.com, or *.example.com',
      });
  });

/** The path of a match that gives none: every request. */
const DEFAULT_PATH = { type: 'PathPrefix', value: '/' } as const;

export const httpRouteSpec = z
  .strictObject({
    parentRefs: z
      .array(parentRef)
      .min(1, { message: 'needs at least one parent: the Service whose traffic the route routes' })
      .max(32),
    hostnames: z.array(hostname).max(16).optional(),
    rules: z.array(rule).min(1).max(16).optional(),
  })
  .superRefine((spec, ctx) => {
    // Distinct parents, as the Gateway API asks: one Service twice only on different ports.
    spec.parentRefs.forEach((p, i) => {
      const earlier = spec.parentRefs.findIndex(
        (q, j) =>
          j < i && q.name === p.name && (q.port === undefined || p.port === undefined || q.port === p.port),
      );
      if (earlier < 0) return;
      ctx.addIssue({
        code: 'custom',
        path: ['parentRefs', i],
        message:
          p.port !== undefined && spec.parentRefs[earlier]?.port !== undefined
            ? `duplicate parent "${p.name}" port ${p.port} (also parentRefs[${earlier}])`
            : `Service "${p.name}" is also parentRefs[${earlier}]: give each a different port`,
      });
    });
    const rules = spec.rules ?? [];
    duplicateNames(rules, (n) => n, 'rules', 'rule name', ctx);
    const matches = rules.reduce((n, r) => n + Math.max(1, r.matches?.length ?? 0), 0);
    if (matches > MAX_MATCHES_PER_ROUTE) {
      ctx.addIssue({
        code: 'custom',
        path: ['rules'],
        message: `at most ${MAX_MATCHES_PER_ROUTE} matches across all rules (has ${matches})`,
      });
    }
  });

export type HTTPRouteSpecDocument = z.infer<typeof httpRouteSpec>;

/**
 * Issues for references outside the route's namespace, which are not supported: a
 * parent or backend may leave `namespace` out or give the route's own.
 */
export function crossNamespaceIssues(
  routeNamespace: string,
  spec: HTTPRouteSpecDocument,
  ctx: z.RefinementCtx,
): void {
  const check = (namespace: string | undefined, path: Array<string | number>, what: string): void => {
    if (namespace !== undefined && namespace !== routeNamespace)
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'namespace'],
        message: `cross-namespace ${what} are not supported: must be the route's namespace "${routeNamespace}" (or left out)`,
      });
  };
  spec.parentRefs.forEach((p, i) => {
    check(p.namespace, ['spec', 'parentRefs', i], 'parents');
  });
  (spec.rules ?? []).forEach((r, i) => {
    (r.backendRefs ?? []).forEach((b, j) => {
      check(b.namespace, ['spec', 'rules', i, 'backendRefs', j], 'backends');
    });
  });
}

type ValueMatchDocument = { type?: ValueMatchType | undefined; name: string; value: string };

const normalizeValueMatch = (m: ValueMatchDocument): HTTPValueMatch => ({
  type: m.type ?? 'Exact',
  name: m.name,
  value: m.value,
});

/** A validated spec with the Gateway API's defaults filled in, and namespaces (the route's) dropped. */
export function normalizeHTTPRouteSpec(spec: HTTPRouteSpecDocument): HTTPRouteSpec {
  // No rules: one that sends every request to the parent Service.
  const rules: NonNullable<HTTPRouteSpecDocument['rules']> = spec.rules ?? [{}];
  return {
    parentRefs: spec.parentRefs.map((p) => ({
      group: '',
      kind: 'Service',
      name: p.name,
      ...(p.port !== undefined ? { port: p.port } : {}),
    })),
    hostnames: spec.hostnames ?? [],
    rules: rules.map((r): HTTPRouteRule => {
      const matches: NonNullable<typeof r.matches> =
        r.matches !== undefined && r.matches.length > 0 ? r.matches : [{}];
      return {
        ...(r.name !== undefined ? { name: r.name } : {}),
        matches: matches.map((m) => ({
          path: {
            type: m.path?.type ?? DEFAULT_PATH.type,
            value: m.path?.value ?? DEFAULT_PATH.value,
          },
          headers: (m.headers ?? []).map(normalizeValueMatch),
          queryParams: (m.queryParams ?? []).map(normalizeValueMatch),
          ...(m.method !== undefined ? { method: m.method } : {}),
        })),
        backendRefs: (r.backendRefs ?? []).map((b) => ({
          group: '',
          kind: 'Service',
          name: b.name,
          // The schema requires a port of every (Service) backend.
          port: b.port ?? 0,
          weight: b.weight ?? 1,
        })),
        ...(r.timeouts !== undefined && (r.timeouts.request ?? r.timeouts.backendRequest) !== undefined
          ? {
              timeouts: {
                ...(r.timeouts.request !== undefined ? { request: r.timeouts.request } : {}),
                ...(r.timeouts.backendRequest !== undefined
                  ? { backendRequest: r.timeouts.backendRequest }
                  : {}),
              },
            }
          : {}),
      };
    }),
  };
}
