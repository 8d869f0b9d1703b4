/**
 * Tap test helpers: a proxy's tap address (from its ready record), viz's tap identity issued by the
 * CA of a running `weft up` (built from its state directory's credentials, as `weft up`
 * builds it), and a collector of a tap stream's events.
 */
import { readFileSync } from 'node:fs';
import { CertificateAuthority } from '../../../src/controlplane/identity/ca.js';
import { identityStatePaths } from '../../../src/identity/state-paths.js';
import {
  observe,
  type TapCredentials,
  type TapEvent,
  type TapRequest,
  type TapStream,
  type TapTarget,
} from '../../../src/viz/tap/client.js';
import { waitFor } from '../../helpers/net.js';
import { scrape, sumSamples } from '../../helpers/prom.js';
import type { HostPort, ProxyHandle } from '../../helpers/proxy.js';

/** The tap server's address, from the proxy's "proxy ready" record. */
export function tapAddr(p: ProxyHandle): HostPort {
  if (!p.tap) {
    throw new Error(
      `the proxy serves no tap (no identity?): its "proxy ready" record has no tap address\n${p.stdoutLines.join('\n')}`,
    );
  }
  return p.tap;
}

/** A proxy's tap target: its tap address and the identity it proves. */
export function tapTarget(p: ProxyHandle, identity: string): TapTarget {
  const addr = tapAddr(p);
  return { address: addr.host, port: addr.port, identity };
}

/** The CA of `weft up` with state in `stateDir`, from the credentials it keeps there. */
export async function stateDirCa(
  stateDir: string,
  opts: { issuanceLifetimeMs?: number } = {},
): Promise<CertificateAuthority> {
  const paths = identityStatePaths(stateDir);
  return CertificateAuthority.create({
    trustAnchorsPem: readFileSync(paths.trustAnchors, 'utf8'),
    issuerCertPem: readFileSync(paths.issuerCertificate, 'utf8'),
    issuerKeyPem: readFileSync(paths.issuerKey, 'utf8'),
    ...(opts.issuanceLifetimeMs !== undefined ? { issuanceLifetimeMs: opts.issuanceLifetimeMs } : {}),
  });
}

/** The proxy's open tap streams (tap_observe_streams). */
export async function openStreams(admin: HostPort): Promise<number> {
  return sumSamples(await scrape(admin), 'tap_observe_streams');
}

/** A tap stream whose events are gathered as they come. */
export interface Collector {
  readonly events: TapEvent[];
  readonly stream: TapStream;
  /** Settles when the iteration ends: with its error, if it threw. */
  readonly done: Promise<Error | undefined>;
  /** Waits until `n` events (of `type`, if given) have arrived. */
  waitFor(n: number, type?: TapEvent['type'], timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export function collect(stream: TapStream): Collector {
  const events: TapEvent[] = [];
  const done = (async (): Promise<Error | undefined> => {
    try {
      for await (const e of stream) events.push(e);
      return undefined;
    } catch (err) {
      return err as Error;
    }
  })();
  return {
    events,
    stream,
    done,
    waitFor: (n, type, timeoutMs = 10_000) =>
      waitFor(
        () => events.filter((e) => type === undefined || e.type === type).length >= n,
        `${n} ${type ?? ''} tap events (have ${events.length}: ${JSON.stringify(events.slice(-3))})`,
        timeoutMs,
        5,
      ),
    close: async () => {
      stream.close();
      await done;
    },
  };
}

/** Opens a tap on a proxy and waits until the proxy has it open. */
export async function startTap(
  target: TapTarget,
  credentials: TapCredentials,
  request: TapRequest = {},
): Promise<Collector> {
  const c = collect(observe(target, credentials, request));
  await c.stream.opened;
  return c;
}

/** The events of one request, by id: [req, rsp, end] as far as they came. */
export function byRequest(events: readonly TapEvent[]): Map<string, TapEvent[]> {
  const m = new Map<string, TapEvent[]>();
  for (const e of events) {
    const list = m.get(e.id);
    if (list) list.push(e);
    else m.set(e.id, [e]);
  }
  return m;
}
