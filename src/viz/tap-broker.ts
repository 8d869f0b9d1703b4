import type { Catalog, Workload } from '../catalog/catalog.js';
import { selects } from '../catalog/selection.js';
import { identityName, type TrustDomain } from '../identity/names.js';
import { formatHostPort } from '../util/addr.js';
import type { Logger } from '../util/log.js';
import { decodeTap, type TapQuery } from './api.js';
import { dstLabel, formatTarget, type VizTarget, VizUsageError } from './resources.js';
import type { TapHandler } from './server.js';
import {
  observe,
  type TapCredentials,
  TapError,
  type TapEvent,
  type TapMatch,
  type TapStream,
} from './tap/client.js';
import type { TapEventView } from './tap-events.js';

/** Requests whose response has not ended yet, remembered to complete their rsp and end events. */
const MAX_OPEN_REQUESTS = 10_000;
/** Events waiting for a slow client; beyond it they are dropped (as the proxies drop theirs). */
const MAX_QUEUED = 10_000;

/** The instances a tap target names (ready, and serving tap). */
export function tapPods(catalog: Catalog, target: VizTarget, namespace: string): Workload[] {
  const ns = target.kind === 'namespace' ? (target.name ?? namespace) : namespace;
  const pods = catalog.workloads.list(ns).filter((w) => w.ready);
  switch (target.kind) {
    case 'deployment':
      return pods.filter((w) => target.name === undefined || w.workload === target.name);
    case 'pod':
      return pods.filter((w) => target.name === undefined || w.pod === target.name);
    case 'service': {
      const services = catalog.services
        .list(ns)
        .filter((s) => target.name === undefined || s.metadata.name === target.name);
      return pods.filter((w) => services.some((s) => selects(s.spec.selector, w.labels)));
    }
    default:
      return pods;
  }
}

/** The proxy-side match for a query: its destination, method, path and authority. */
export function tapMatch(q: TapQuery): TapMatch | undefined {
  const all: TapMatch[] = [];
  if (q.to) {
    if (q.to.kind === 'authority') {
      if (q.to.name) all.push({ authority: q.to.name });
    } else if (q.to.kind === 'namespace') {
      all.push({ destinationLabel: { key: 'dst_namespace', value: q.to.name ?? q.to.namespace } });
    } else {
      all.push({ destinationLabel: { key: 'dst_namespace', value: q.to.namespace } });
      if (q.to.name) all.push({ destinationLabel: { key: dstLabel(q.to.kind), value: q.to.name } });
    }
  }
  if (q.method) all.push({ method: q.method });
  if (q.path) all.push({ pathPrefix: q.path });
  if (q.authority) all.push({ authority: q.authority });
  return all.length === 0 ? undefined : all.length === 1 ? all[0] : { all };
}

const addr = (a: { ip: string; port: number } | undefined): string =>
  a ? formatHostPort({ host: a.ip, port: a.port }) : '';

/** Remembers each request's first event, so its later events read on their own (bounded). */
class OpenRequests {
  private readonly byId = new Map<
    string,
    { method: string; authority: string; path: string; status?: number; latencyMs?: number }
  >();

  request(e: TapEvent & { type: 'req' }): void {
    if (this.byId.size >= MAX_OPEN_REQUESTS) {
      const oldest = this.byId.keys().next().value as string;
      this.byId.delete(oldest);
    }
    this.byId.set(e.id, { method: e.method, authority: e.authority, path: e.path });
  }

  view(e: TapEvent, pod: Workload): TapEventView {
    const base = {
      id: e.id,
      type: e.type,
      time: Date.now(),
      direction: e.direction,
      namespace: pod.namespace,
      pod: pod.pod,
      src: addr(e.source),
      dst: addr(e.destination),
      srcLabels: e.sourceMeta,
      dstLabels: e.destinationMeta,
      tls: e.tls,
      ...(e.routeMeta.rt_route ? { route: e.routeMeta.rt_route } : {}),
    };
    if (e.type === 'req') {
      this.request(e);
      return { ...base, method: e.method, authority: e.authority, path: e.path };
    }
    const req = this.byId.get(e.id) ?? { method: '', authority: '', path: '' };
    if (e.type === 'rsp') {
      req.status = e.status;
      req.latencyMs = e.latencyMs;
      return { ...base, ...req, status: e.status, latencyMs: e.latencyMs };
    }
    this.byId.delete(e.id);
    return {
      ...base,
      method: req.method,
      authority: req.authority,
      path: req.path,
      ...(req.status !== undefined ? { status: req.status } : {}),
      ...(req.latencyMs !== undefined ? { latencyMs: req.latencyMs } : {}),
      ...(e.durationMs !== undefined ? { durationMs: e.durationMs } : {}),
      responseBytes: e.responseBytes,
      ...(e.grpcStatus !== undefined ? { grpcStatus: e.grpcStatus } : {}),
      ...(e.resetError !== undefined ? { reset: resetName(e.resetError) } : {}),
    };
  }
}

function resetName(code: number): string {
  return code === 8
    ? 'CANCEL'
    : code === 2
      ? 'INTERNAL_ERROR'
      : code === 7
        ? 'REFUSED_STREAM'
        : `error ${code}`;
}

export interface TapBrokerOptions {
  readonly catalog: Catalog;
  /** viz's tap identity as it is now (renewed certificates included). */
  readonly credentials: () => TapCredentials;
  readonly domain: TrustDomain;
  readonly log: Logger;
}

/**
 * viz's side of tap: `/api/tap` names a resource; the broker taps each of its pods'
 * proxies over mutual TLS with viz's identity (the request rate shared among them) and
 * merges their events into one stream, each completed with its request's method,
 * authority and path.
 */
export function tapBroker(opts: TapBrokerOptions): TapHandler {
  return (params, signal) => run(opts, decodeTap(params), signal);
}

async function* run(opts: TapBrokerOptions, q: TapQuery, signal: AbortSignal): AsyncGenerator<TapEventView> {
  const pods = tapPods(opts.catalog, q.target, q.namespace).filter((w) => (w.tapPort ?? 0) > 0);
  if (pods.length === 0) {
    throw new VizUsageError(
      `no meshed pod of ${formatTarget(q.target)} in namespace ${q.namespace} serves tap`,
    );
  }
  const match = tapMatch(q);
  const request = { ...(match ? { match } : {}), maxRps: Math.max(1, Math.floor(q.maxRps / pods.length)) };
  const credentials = opts.credentials();
  const streams: Array<{ pod: Workload; stream: TapStream }> = pods.map((pod) => ({
    pod,
    stream: observe(
      {
        address: pod.address,
        port: pod.tapPort,
        identity: identityName(pod.serviceAccount, pod.namespace, opts.domain),
      },
      credentials,
      request,
      signal,
    ),
  }));
  const opened = await Promise.allSettled(streams.map((s) => s.stream.opened));
  const refused = opened.flatMap((o, i) =>
    o.status === 'rejected' ? [`${streams[i]?.pod.pod}: ${(o.reason as Error).message}`] : [],
  );
  if (refused.length === streams.length) {
    const reason = opened[0]?.status === 'rejected' ? (opened[0].reason as Error) : undefined;
    throw new (reason instanceof TapError && reason.reason === 'invalid_request' ? VizUsageError : Error)(
      `tap failed: ${refused.join('; ')}`,
    );
  }
  for (const r of refused) opts.log.warn({ target: formatTarget(q.target), err: r }, 'a pod refused tap');

  // Merge: each stream pushes into one queue the generator drains.
  const queue: TapEventView[] = [];
  let wake: (() => void) | undefined;
  let running = streams.length - refused.length;
  let failure: Error | undefined;
  let dropped = 0;
  const open = new OpenRequests();
  streams.forEach(({ pod, stream }, i) => {
    if (opened[i]?.status === 'rejected') return;
    void (async () => {
      try {
        for await (const e of stream) {
          const view = open.view(e, pod);
          if (queue.length >= MAX_QUEUED) {
            if (dropped++ === 0)
              opts.log.warn({ target: formatTarget(q.target) }, 'tap client too slow: dropping events');
            continue;
          }
          queue.push(view);
          wake?.();
        }
      } catch (err) {
        if (!signal.aborted) {
          opts.log.warn({ pod: pod.pod, err: (err as Error).message }, 'a tap stream failed');
          failure ??= err as Error;
        }
      } finally {
        running--;
        wake?.();
      }
    })();
  });
  const stopAll = (): void => {
    for (const s of streams) s.stream.close();
    wake?.();
  };
  signal.addEventListener('abort', stopAll, { once: true });
  try {
    while (!signal.aborted) {
      const e = queue.shift();
      if (e) {
        yield e;
        continue;
      }
      if (running === 0) {
        if (failure) throw new Error(`tap ended: ${failure.message}`);
        return;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    signal.removeEventListener('abort', stopAll);
    for (const s of streams) s.stream.close();
  }
}
