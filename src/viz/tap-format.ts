import { formatMicros } from './format.js';
import type { TapEventView } from './tap-events.js';

const GRPC_STATUS = [
  'OK',
  'Cancelled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];

export function grpcStatusName(code: number): string {
  return GRPC_STATUS[code] ?? String(code);
}

/** The resource a side of a request belongs to, from the labels the proxy knows of it. */
function resource(
  labels: Readonly<Record<string, string>>,
  prefix: 'src_' | 'dst_',
): { res: string; ns: string } {
  const ns = labels[`${prefix}namespace`] ?? '';
  const deploy = labels[`${prefix}deployment`];
  if (deploy) return { res: `deploy/${deploy}`, ns };
  const pod = labels[`${prefix}pod`];
  if (pod) return { res: `pod/${pod}`, ns };
  const svc = labels[`${prefix}service`];
  return { res: svc ? `svc/${svc}` : '', ns };
}

/**
 * One tap event as `linkerd viz tap` prints it: `req`, `rsp` or `end`, the request's id,
 * the proxy's direction, both addresses and whether the hop was mutual TLS, then what the
 * event adds (method, authority and path; status and latency; duration, length and gRPC
 * status). `wide` adds each side's resource and namespace.
 */
export function tapLine(e: TapEventView, wide = false): string {
  const parts = [
    e.type,
    `id=${e.id}`,
    `proxy=${e.direction === 'inbound' ? 'in ' : 'out'}`,
    `src=${e.src}`,
    `dst=${e.dst}`,
    `tls=${e.tls}`,
  ];
  if (e.type === 'req') {
    parts.push(`:method=${e.method}`, `:authority=${e.authority}`, `:path=${e.path}`);
  } else if (e.type === 'rsp') {
    parts.push(`:status=${e.status}`, `latency=${formatMicros(e.latencyMs ?? 0)}`);
  } else {
    if (e.grpcStatus !== undefined) parts.push(`grpc-status=${grpcStatusName(e.grpcStatus)}`);
    if (e.reset !== undefined) parts.push(`reset-error=${e.reset}`);
    parts.push(`duration=${formatMicros(e.durationMs ?? 0)}`, `response-length=${e.responseBytes ?? 0}B`);
  }
  if (wide) {
    const src = resource(e.srcLabels, 'src_');
    const dst = resource(e.dstLabels, 'dst_');
    if (src.res) parts.push(`src_res=${src.res}`);
    if (src.ns) parts.push(`src_ns=${src.ns}`);
    if (dst.res) parts.push(`dst_res=${dst.res}`);
    if (dst.ns) parts.push(`dst_ns=${dst.ns}`);
  }
  return parts.join(' ');
}
