// How each target of a protocol is put in front of that protocol's upstream. `direct` is the upstream
// itself; the one-hop targets start one proxy process, the meshed ones (weft-mesh, weft-mesh-routes,
// haproxy-mtls) two, and every proxy process is measured.
import { startHaproxy, startHaproxyMtls } from './haproxy.js';
import { ROUTES_MESH, startWeftMesh } from './mesh.js';
import { startNodeServer } from './node-child.js';
import type { Managed } from './procs.js';
import type { Protocol, TargetName } from './types.js';
import { startWeft } from './weft.js';

/** Where the load goes: a port on 127.0.0.1, and the authority to ask for (default 127.0.0.1:port). */
export interface LoadTarget {
  port: number;
  /** Sent as Host (HTTP/1.1) or :authority (HTTP/2, gRPC) when set. */
  authority?: string;
}

export interface StartedTarget extends LoadTarget {
  /** The proxy processes, whose CPU (summed) and RSS (per process) are measured; none for direct. */
  procs: Managed[];
  /** Processes the row needs but that are not measured (the control plane); stopped with the row. */
  helpers?: Managed[];
  /** Synchronous clean-up after every process has stopped (e.g. removing the row's temp files). */
  cleanup?: () => void;
  /** Human-readable route, e.g. "haproxy 127.0.0.1:4001 -> upstream 127.0.0.1:4000". */
  route: string;
}

export interface TargetContext {
  tempDir: string;
  protocol: Protocol;
  upstreamPort: number;
  upstreamName: string;
  /** One request of the row's protocol through `target`; rejects unless it succeeded. */
  probe: (target: LoadTarget) => Promise<void>;
}

type Starter = (ctx: TargetContext) => Promise<StartedTarget>;

const hop = (name: string, port: number, ctx: TargetContext) =>
  `${name} 127.0.0.1:${port} -> ${ctx.upstreamName} 127.0.0.1:${ctx.upstreamPort}`;

export const starters: Record<TargetName, Starter> = {
  direct: async (ctx) => ({
    port: ctx.upstreamPort,
    procs: [],
    route: `${ctx.upstreamName} 127.0.0.1:${ctx.upstreamPort}`,
  }),
  weft: async (ctx) => {
    const weft = await startWeft(ctx.upstreamPort);
    return { port: weft.port, procs: [weft.proc], route: hop('weft inbound', weft.port, ctx) };
  },
  haproxy: async (ctx) => {
    const h = await startHaproxy(ctx.tempDir, ctx.upstreamPort);
    return { port: h.port, procs: [h.proc], route: hop('haproxy', h.port, ctx) };
  },
  'http-proxy': async (ctx) => {
    const p = await startNodeServer('http-proxy', 'httpproxy-server.js', [
      '--target',
      `http://127.0.0.1:${ctx.upstreamPort}`,
    ]);
    return { port: p.port, procs: [p.proc], route: hop('http-proxy', p.port, ctx) };
  },
  'weft-mesh': (ctx) => startWeftMesh(ctx),
  'weft-mesh-routes': (ctx) => startWeftMesh(ctx, ROUTES_MESH),
  'haproxy-mtls': startHaproxyMtls,
};
