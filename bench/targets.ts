// How each target of a protocol is put in front of that protocol's upstream. `direct` is the upstream
// itself; the others start one proxy process whose pid is measured.
import { startHaproxy } from './haproxy.js';
import { startNodeServer } from './node-child.js';
import type { Managed } from './procs.js';
import type { TargetName } from './types.js';
import { startWeft } from './weft.js';

export interface StartedTarget {
  port: number;
  /** The proxy process (absent for direct). */
  proc?: Managed;
  /** Human-readable route, e.g. "haproxy 127.0.0.1:4001 -> upstream 127.0.0.1:4000". */
  route: string;
}

export interface TargetContext {
  tempDir: string;
  upstreamPort: number;
  upstreamName: string;
}

type Starter = (ctx: TargetContext) => Promise<StartedTarget>;

const hop = (name: string, port: number, ctx: TargetContext) =>
  `${name} 127.0.0.1:${port} -> ${ctx.upstreamName} 127.0.0.1:${ctx.upstreamPort}`;

export const starters: Record<TargetName, Starter> = {
  direct: async (ctx) => ({
    port: ctx.upstreamPort,
    route: `${ctx.upstreamName} 127.0.0.1:${ctx.upstreamPort}`,
  }),
  weft: async (ctx) => {
    const weft = await startWeft(ctx.upstreamPort);
    return { port: weft.port, proc: weft.proc, route: hop('weft inbound', weft.port, ctx) };
  },
  haproxy: async (ctx) => {
    const h = await startHaproxy(ctx.tempDir, ctx.upstreamPort);
    return { port: h.port, proc: h.proc, route: hop('haproxy', h.port, ctx) };
  },
  'http-proxy': async (ctx) => {
    const p = await startNodeServer('http-proxy', 'httpproxy-server.js', [
      '--target',
      `http://127.0.0.1:${ctx.upstreamPort}`,
    ]);
    return { port: p.port, proc: p.proc, route: hop('http-proxy', p.port, ctx) };
  },
};
