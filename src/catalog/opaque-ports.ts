import { DEFAULT_OPAQUE_PORTS, PortSpecError, parsePortSpecs } from '../util/port-specs.js';

// Which ports of a Service carry opaque TCP (no protocol detection), as Linkerd's
// destination controller decides it. The Service's `config.weft.io/opaque-ports`
// annotation, or Linkerd's `config.linkerd.io/opaque-ports` (weft's wins when both are
// set), lists Service ports (`port`, not `targetPort`), ranges, and the names of the
// Service's ports; an empty value means none. Without either, the default list. A
// Namespace's annotation does not apply: Linkerd's injector copies it onto each Service it
// admits, and weft has no Namespace object.

/** The annotations, weft's first: the first one set is the one read. */
export const OPAQUE_PORTS_ANNOTATIONS = [
  'config.weft.io/opaque-ports',
  'config.linkerd.io/opaque-ports',
] as const;

/** What the annotations are read against: a Service's annotations and ports. */
export interface ServicePorts {
  readonly annotations: Readonly<Record<string, string>>;
  readonly ports: ReadonlyArray<{ readonly name?: string; readonly port: number }>;
}

/** An annotation's ports and ranges, names resolved to their port numbers; throws PortSpecError. */
function parse(value: string, annotation: string, svc: ServicePorts): string[] {
  if (value.trim() === '') return [];
  const named = new Map(svc.ports.flatMap((p) => (p.name !== undefined ? [[p.name, p.port] as const] : [])));
  return parsePortSpecs(value, annotation, [...named.keys()]).map((item) => String(named.get(item) ?? item));
}

/** Each opaque-ports annotation whose value is no list of the Service's ports, and why. */
export function opaquePortsProblems(svc: ServicePorts): Array<{ annotation: string; problem: string }> {
  return OPAQUE_PORTS_ANNOTATIONS.flatMap((annotation) => {
    const value = svc.annotations[annotation];
    if (value === undefined) return [];
    try {
      parse(value, annotation, svc);
      return [];
    } catch (err) {
      if (err instanceof PortSpecError) return [{ annotation, problem: err.problem }];
      throw err;
    }
  });
}

/**
 * The ports and ranges of a Service that are opaque (a Service unknown to the catalog has
 * the default list, as in Linkerd). A value `weft apply` would refuse (stored before it
 * checked them) is passed over.
 */
export function serviceOpaquePorts(svc: ServicePorts | undefined): readonly string[] {
  for (const annotation of OPAQUE_PORTS_ANNOTATIONS) {
    const value = svc?.annotations[annotation];
    if (value === undefined || svc === undefined) continue;
    try {
      return parse(value, annotation, svc);
    } catch (err) {
      if (!(err instanceof PortSpecError)) throw err;
    }
  }
  return DEFAULT_OPAQUE_PORTS;
}
