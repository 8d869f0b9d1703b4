import { type Command, Option } from 'commander';
import { formatHostPort, type HostPort, parseHostPort } from '../../util/addr.js';
import type { EdgeRow } from '../../viz/edges.js';
import type { RouteRow } from '../../viz/routes.js';
import type { StatRow } from '../../viz/stat.js';
import type { TapEventView } from '../../viz/tap-events.js';
import { UsageError, usage } from '../errors.js';
import { table } from '../table.js';
import { checkProfileTarget } from './profile.js';

export const DEFAULT_VIZ_ADDR = '127.0.0.1:50750';

// The viz modules load when a command runs: `weft proxy` shares this CLI.

interface CommonFlags {
  vizAddr: string;
  namespace: string;
  output: string;
  timeWindow: string;
}

function vizAddrOption(): Option {
  return new Option('--viz-addr <host:port>', 'the viz API of weft up')
    .env('WEFT_VIZ_ADDR')
    .default(DEFAULT_VIZ_ADDR);
}

function vizAddr(flags: { vizAddr: string }): HostPort {
  return usage(() => parseHostPort(flags.vizAddr, '--viz-addr'));
}

function outputOption(choices: string[], def: string): Option {
  return new Option('-o, --output <format>', 'output format').choices(choices).default(def);
}

const namespaceOption = (): Option => new Option('-n, --namespace <ns>', 'the namespace').default('default');
const windowOption = (): Option =>
  new Option(
    '-t, --time-window <duration>',
    'the window the metrics are computed over (10s, 1m, 10m)',
  ).default('1m');

/** GETs an API path (the viz client loads only when a command runs). */
async function call<T>(addr: HostPort, path: string): Promise<T> {
  const { vizGet } = await import('../../viz/client.js');
  return vizGet<T>(addr, path);
}

/** Parses a resource argument now, so a mistake is a usage error (exit 2) before anything is asked. */
async function target(text: string, name?: string, what = 'resource') {
  const { parseTarget } = await import('../../viz/resources.js');
  try {
    return parseTarget(text, name);
  } catch (err) {
    throw new UsageError(`${what}: ${(err as Error).message}`);
  }
}

async function duration(text: string, flag: string): Promise<number> {
  const { parseDuration } = await import('../../util/duration.js');
  return usage(() => parseDuration(text, flag));
}

const checkWindow = (text: string): Promise<number> => duration(text, '--time-window');

function print(text: string): void {
  // After the reader has gone (EPIPE), there is no one to print for.
  if (!process.stdout.destroyed) process.stdout.write(text);
}

/**
 * The rows of an API path, to render as a table; undefined once they have been printed
 * already (as JSON, or as `empty` when there are none).
 */
async function tableRows<R>(
  addr: HostPort,
  path: string,
  output: string,
  empty: string,
): Promise<R[] | undefined> {
  const { rows } = await call<{ rows: R[] }>(addr, path);
  if (output === 'json') {
    print(`${JSON.stringify(rows, null, 2)}\n`);
    return undefined;
  }
  if (rows.length === 0) {
    print(`${empty}\n`);
    return undefined;
  }
  return rows;
}

export function vizCommand(program: Command): void {
  const viz = program
    .command('viz')
    .description("the mesh's golden metrics, live requests and dashboard (served by weft up)");

  viz
    .command('stat')
    .description(
      'golden metrics (success rate, requests/s, latency percentiles, TCP connections) per resource',
    )
    .argument('<resource>', 'deploy, pod, svc, ns or au, optionally /NAME (deploy/web)')
    .argument('[name]', 'the resource name, when not given as kind/name')
    .addOption(namespaceOption())
    .option('-A, --all-namespaces', 'every namespace')
    .option('--from <resource>', 'only traffic from this resource (deploy/web)')
    .option('--from-namespace <ns>', "the --from resource's namespace (default: --namespace)")
    .option('--to <resource>', 'only traffic to this resource (svc/voting-svc)')
    .option('--to-namespace <ns>', "the --to resource's namespace (default: --namespace)")
    .addOption(windowOption())
    .addOption(outputOption(['table', 'wide', 'json'], 'table'))
    .addOption(vizAddrOption())
    .action(
      async (
        resource: string,
        name: string | undefined,
        flags: CommonFlags & {
          allNamespaces?: boolean;
          from?: string;
          fromNamespace?: string;
          to?: string;
          toNamespace?: string;
        },
      ) => {
        const addr = vizAddr(flags);
        const t = await target(resource, name);
        const from = flags.from ? await target(flags.from, undefined, '--from') : undefined;
        const to = flags.to ? await target(flags.to, undefined, '--to') : undefined;
        if (from && to) throw new UsageError('--from and --to cannot be combined');
        await checkWindow(flags.timeWindow);
        const all = flags.allNamespaces === true;
        const { encodeStat } = await import('../../viz/api.js');
        const path = encodeStat({
          target: t,
          ...(all ? {} : { namespace: flags.namespace }),
          ...(from ? { from: { ...from, namespace: flags.fromNamespace ?? flags.namespace } } : {}),
          ...(to ? { to: { ...to, namespace: flags.toNamespace ?? flags.namespace } } : {}),
          window: flags.timeWindow,
        });
        const rows = await tableRows<StatRow>(addr, path, flags.output, 'No resources found.');
        if (!rows) return;
        const { goldenCells, formatMeshed, formatBytesRate, DASH } = await import('../../viz/format.js');
        const wide = flags.output === 'wide';
        const withNs = all && t.kind !== 'namespace';
        const head = [
          ...(withNs ? ['NAMESPACE'] : []),
          'NAME',
          'MESHED',
          'SUCCESS',
          'RPS',
          'LATENCY_P50',
          'LATENCY_P95',
          'LATENCY_P99',
          'TCP_CONN',
          ...(wide ? ['READ_BYTES/SEC', 'WRITE_BYTES/SEC'] : []),
        ];
        const body = rows.map((r) => [
          ...(withNs ? [r.namespace] : []),
          r.name,
          formatMeshed(r.meshed),
          ...goldenCells(r.requests),
          r.tcp ? String(r.tcp.openConnections) : DASH,
          ...(wide
            ? [
                formatBytesRate(r.tcp?.readBytesPerSec ?? null),
                formatBytesRate(r.tcp?.writeBytesPerSec ?? null),
              ]
            : []),
        ]);
        print(table([head, ...body]));
      },
    );

  viz
    .command('routes')
    .description("golden metrics per route of the services' profiles (ServiceProfiles, HTTPRoutes)")
    .argument('<resource>', 'deploy/NAME, pod/NAME or svc/NAME')
    .argument('[name]', 'the resource name, when not given as kind/name')
    .addOption(namespaceOption())
    .option('--to <resource>', "only the resource's requests to this service (svc/NAME), retries included")
    .option('--to-namespace <ns>', "the --to service's namespace (default: --namespace)")
    .addOption(windowOption())
    .addOption(outputOption(['table', 'wide', 'json'], 'table'))
    .addOption(vizAddrOption())
    .action(
      async (
        resource: string,
        name: string | undefined,
        flags: CommonFlags & { to?: string; toNamespace?: string },
      ) => {
        const addr = vizAddr(flags);
        const t = await target(resource, name);
        const to = flags.to ? await target(flags.to, undefined, '--to') : undefined;
        await checkWindow(flags.timeWindow);
        const { encodeRoutes } = await import('../../viz/api.js');
        const path = encodeRoutes({
          target: { ...t, namespace: flags.namespace },
          ...(to ? { to: { ...to, namespace: flags.toNamespace ?? flags.namespace } } : {}),
          window: flags.timeWindow,
        });
        const rows = await tableRows<RouteRow>(
          addr,
          path,
          flags.output,
          'No routes found: the service has no ServiceProfile or HTTPRoute (weft profile --template writes one).',
        );
        if (!rows) return;
        const { goldenCells, formatSuccess, formatRps } = await import('../../viz/format.js');
        if (flags.output === 'wide' && to) {
          const head = [
            'ROUTE',
            'SERVICE',
            'EFFECTIVE_SUCCESS',
            'EFFECTIVE_RPS',
            'ACTUAL_SUCCESS',
            'ACTUAL_RPS',
            'LATENCY_P50',
            'LATENCY_P95',
            'LATENCY_P99',
          ];
          const body = rows.map((r) => {
            const [success, rps, p50, p95, p99] = goldenCells(r.requests);
            return [
              r.route,
              r.service,
              success as string,
              rps as string,
              formatSuccess(r.actual?.successRate),
              formatRps(r.actual?.rps),
              p50 as string,
              p95 as string,
              p99 as string,
            ];
          });
          print(table([head, ...body]));
          return;
        }
        const head = ['ROUTE', 'SERVICE', 'SUCCESS', 'RPS', 'LATENCY_P50', 'LATENCY_P95', 'LATENCY_P99'];
        print(table([head, ...rows.map((r) => [r.route, r.service, ...goldenCells(r.requests)])]));
      },
    );

  viz
    .command('edges')
    .description('who talks to whom, with the identities each side proved and whether mutual TLS secured it')
    .argument('<kind>', 'deploy or pod')
    .addOption(namespaceOption())
    .option('-A, --all-namespaces', 'every namespace')
    .addOption(windowOption())
    .addOption(outputOption(['table', 'wide', 'json'], 'table'))
    .addOption(vizAddrOption())
    .action(async (kind: string, flags: CommonFlags & { allNamespaces?: boolean }) => {
      const addr = vizAddr(flags);
      const t = await target(kind);
      if (t.name !== undefined || (t.kind !== 'deployment' && t.kind !== 'pod')) {
        throw new UsageError('edges: give a kind, deploy or pod');
      }
      await checkWindow(flags.timeWindow);
      const { encodeEdges } = await import('../../viz/api.js');
      const path = encodeEdges({
        kind: t.kind,
        ...(flags.allNamespaces ? {} : { namespace: flags.namespace }),
        window: flags.timeWindow,
      });
      const rows = await tableRows<EdgeRow>(addr, path, flags.output, 'No edges found.');
      if (!rows) return;
      const src = (r: EdgeRow) => (r.src === '' ? '(unmeshed)' : r.src);
      const dash = (s: string) => (s === '' ? '-' : s);
      if (flags.output === 'wide') {
        const head = ['SRC', 'DST', 'SRC_NS', 'DST_NS', 'CLIENT_ID', 'SERVER_ID', 'SECURED', 'MSG'];
        const body = rows.map((r) => [
          src(r),
          r.dst,
          dash(r.srcNamespace),
          r.dstNamespace,
          dash(r.clientId),
          dash(r.serverId),
          r.secured ? '√' : '×',
          dash(r.noTlsReason),
        ]);
        print(table([head, ...body]));
        return;
      }
      const head = ['SRC', 'DST', 'SRC_NS', 'DST_NS', 'SECURED'];
      const body = rows.map((r) => [
        src(r),
        r.dst,
        dash(r.srcNamespace),
        r.dstNamespace,
        r.secured ? '√' : `× ${r.noTlsReason}`,
      ]);
      print(table([head, ...body]));
    });

  const tapOptions = (c: Command): Command =>
    c
      .argument('<resource>', 'deploy, pod, svc or ns, optionally /NAME (deploy/web)')
      .argument('[name]', 'the resource name, when not given as kind/name')
      .addOption(namespaceOption())
      .option('--to <resource>', 'only requests to this resource (svc/voting-svc)')
      .option('--to-namespace <ns>', "the --to resource's namespace (default: --namespace)")
      .option('--method <method>', 'only requests with this method')
      .option('--path <prefix>', 'only requests whose path starts with this')
      .option('--authority <authority>', 'only requests for this authority')
      .option('--max-rps <rps>', 'at most this many requests per second are tapped', '100')
      .addOption(vizAddrOption());

  tapOptions(
    viz
      .command('tap')
      .description(
        'live requests through the proxies of a resource: req, rsp and end lines (no headers, no bodies)',
      ),
  )
    .addOption(outputOption(['default', 'wide', 'json'], 'default'))
    .action(async (resource: string, name: string | undefined, flags: TapFlags) => {
      const addr = vizAddr(flags);
      const path = await tapPath(resource, name, flags);
      const { tapLine } = await import('../../viz/tap-format.js');
      await streamTap(addr, path, (e) => {
        print(
          flags.output === 'json' ? `${JSON.stringify(e)}\n` : `${tapLine(e, flags.output === 'wide')}\n`,
        );
      });
    });

  tapOptions(
    viz
      .command('top')
      .description('the busiest paths of a resource, live from tap, refreshed in place every second'),
  ).action(async (resource: string, name: string | undefined, flags: TapFlags) => {
    const addr = vizAddr(flags);
    const path = await tapPath(resource, name, flags);
    const { TopTable } = await import('../../viz/top.js');
    const top = new TopTable();
    const tty = process.stdout.isTTY === true;
    const draw = (): void => {
      // A terminal that reports no size (0 rows, as under `script`) is taken to have 24.
      const height = tty ? Math.max(3, (process.stdout.rows || 24) - 2) : 20;
      const text = table(top.render(height));
      // On a terminal: the alternate screen, redrawn from its top left; otherwise one frame after another.
      print(tty ? `\x1b[H\x1b[2J${text}` : `${text}\n`);
    };
    if (tty) print('\x1b[?1049h\x1b[?25l');
    const timer = setInterval(draw, 1000);
    try {
      await streamTap(addr, path, (e) => top.add(e));
    } finally {
      clearInterval(timer);
      if (tty) print('\x1b[?25h\x1b[?1049l');
      print(table(top.render(20)));
    }
  });

  viz
    .command('profile')
    .description(
      "a ServiceProfile for a Service, with a route per method and path seen on a resource's inbound requests",
    )
    .argument('<service>', 'the Service the profile is for')
    .requiredOption('--tap <resource>', 'the resource whose inbound requests are watched (deploy/web)')
    .option('--tap-duration <duration>', 'how long to watch', '5s')
    .option('--tap-route-limit <n>', 'at most this many routes', '20')
    .addOption(namespaceOption())
    .option('--cluster-domain <domain>', "the cluster's DNS domain", 'cluster.local')
    .addOption(vizAddrOption())
    .action(
      async (
        service: string,
        flags: {
          tap: string;
          tapDuration: string;
          tapRouteLimit: string;
          namespace: string;
          clusterDomain: string;
          vizAddr: string;
        },
      ) => {
        const addr = vizAddr(flags);
        checkProfileTarget('service', {
          name: service,
          namespace: flags.namespace,
          clusterDomain: flags.clusterDomain,
        });
        const durationMs = await duration(flags.tapDuration, '--tap-duration');
        const limit = Number(flags.tapRouteLimit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
          throw new UsageError(`--tap-route-limit: "${flags.tapRouteLimit}" is not a number from 1 to 100`);
        }
        const t = await target(flags.tap, undefined, '--tap');
        const { encodeTap } = await import('../../viz/api.js');
        const path = encodeTap({ target: t, namespace: flags.namespace });
        const seen: Array<{ method: string; path: string }> = [];
        const ac = new AbortController();
        const timer = setTimeout(() => ac.abort(), durationMs);
        try {
          await streamTap(
            addr,
            path,
            (e) => {
              if (e.type === 'req' && e.direction === 'inbound')
                seen.push({ method: e.method, path: e.path });
            },
            ac,
          );
        } finally {
          clearTimeout(timer);
        }
        const [{ tapRoutes }, { renderProfile }] = await Promise.all([
          import('../../profiles/tap.js'),
          import('../../profiles/document.js'),
        ]);
        const routes = tapRoutes(seen).slice(0, limit);
        if (routes.length === 0) {
          process.stderr.write(
            `weft: no request reached ${flags.tap} in ${flags.tapDuration}: the profile has no routes\n`,
          );
        }
        print(
          renderProfile(
            { name: service, namespace: flags.namespace, clusterDomain: flags.clusterDomain },
            routes,
            `tap of ${flags.tap}`,
          ),
        );
      },
    );

  viz
    .command('dashboard')
    .description('open the dashboard served by weft up (prints its address)')
    .addOption(
      new Option('--show <how>', 'url: print the address; browser: also open it')
        .choices(['url', 'browser'])
        .default('browser'),
    )
    .addOption(vizAddrOption())
    .action(async (flags: { vizAddr: string; show: string }) => {
      const addr = vizAddr(flags);
      await call(addr, '/api/info');
      const url = `http://${formatHostPort(addr)}/`;
      print(`Weft dashboard available at:\n${url}\n`);
      if (flags.show === 'browser') {
        const { openBrowser } = await import('../browser.js');
        if (!openBrowser(url)) print('(no browser to open here: visit the address above)\n');
      }
    });
}

interface TapFlags {
  vizAddr: string;
  namespace: string;
  to?: string;
  toNamespace?: string;
  method?: string;
  path?: string;
  authority?: string;
  maxRps: string;
  output?: string;
}

/** The /api/tap path for a tap command's arguments, checked first (usage errors exit 2). */
async function tapPath(resource: string, name: string | undefined, flags: TapFlags): Promise<string> {
  const t = await target(resource, name);
  if (t.kind === 'authority') throw new UsageError('tap: give a deployment, pod, namespace or service');
  const to = flags.to ? await target(flags.to, undefined, '--to') : undefined;
  const { encodeTap, MAX_MAX_RPS } = await import('../../viz/api.js');
  const maxRps = Number(flags.maxRps);
  if (!Number.isFinite(maxRps) || maxRps <= 0 || maxRps > MAX_MAX_RPS) {
    throw new UsageError(`--max-rps: "${flags.maxRps}" is not a rate from 1 to ${MAX_MAX_RPS}`);
  }
  if (flags.path !== undefined && !flags.path.startsWith('/')) {
    throw new UsageError(`--path: "${flags.path}" does not start with /`);
  }
  return encodeTap({
    target: t,
    namespace: flags.namespace,
    ...(to ? { to: { ...to, namespace: flags.toNamespace ?? flags.namespace } } : {}),
    ...(flags.method ? { method: flags.method } : {}),
    ...(flags.path ? { path: flags.path } : {}),
    ...(flags.authority ? { authority: flags.authority } : {}),
    maxRps,
  });
}

/**
 * Streams tap events until the server ends the tap, `ac` aborts, Ctrl-C, or the reader of
 * the output goes away (`weft viz tap | head`): each ends it cleanly.
 */
async function streamTap(
  addr: HostPort,
  path: string,
  onEvent: (e: TapEventView) => void,
  ac = new AbortController(),
): Promise<void> {
  const { vizStream } = await import('../../viz/client.js');
  const stop = (): void => ac.abort();
  const outputGone = (err: NodeJS.ErrnoException): void => {
    if (err.code !== 'EPIPE') throw err;
    stop();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.stdout.on('error', outputGone);
  try {
    await vizStream(
      addr,
      path,
      (event, data) => {
        if (event === 'tap' && !ac.signal.aborted) onEvent(data as TapEventView);
      },
      ac.signal,
    );
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    process.stdout.off('error', outputGone);
  }
}
