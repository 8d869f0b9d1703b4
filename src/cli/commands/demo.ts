import type { Command } from 'commander';
import { resolveProxyConfig } from '../../proxy/config.js';
import { SidecarProxy } from '../../proxy/proxy.js';
import { startSampleServer } from '../../sample/server.js';
import { formatHostPort, parsePort } from '../../util/addr.js';
import { createLogger, parseLogLevel } from '../../util/log.js';
import { UsageError } from '../errors.js';
import { runProxy } from './proxy.js';
import { DEFAULT_VIZ_ADDR } from './viz.js';

export function demoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'run emojivoto meshed: as pods on this host (root on Linux, with ip, nsenter, setpriv and iptables), otherwise on loopback ports',
    )
    .option('--sample', 'a sample app behind one proxy, instead of emojivoto')
    .option('--loopback', 'emojivoto on loopback ports (as without root), even as root')
    .option('--pods', 'emojivoto as pods, or exit at once saying what they need that is missing')
    .option('--pod-bridge <name>', 'the bridge the demo pods are attached to', 'weft0')
    .option('--pod-cidr <a.b.0.0/16>', "the pods' addresses", '10.42.0.0/16')
    .option('--service-cidr <a.b.0.0/16>', "the Services' addresses", '10.43.0.0/16')
    .option('--viz-addr <host:port>', "viz's API and dashboard", DEFAULT_VIZ_ADDR)
    .option('--metrics-scrape-interval <duration>', "how often viz scrapes the proxies' metrics", '10s')
    .option('--app-port <port>', 'sample: port of the sample application on 127.0.0.1', '8080')
    .option('--inbound-port <port>', 'sample: proxy inbound port on 127.0.0.1', '4143')
    .option('--outbound-port <port>', 'sample: proxy outbound port on 127.0.0.1', '4140')
    .option('--admin-port <port>', 'sample: proxy admin port on 127.0.0.1', '4191')
    .action(async (opts: DemoFlags) => {
      if (opts.pods && (opts.loopback || opts.sample)) {
        throw new UsageError(`--pods and --${opts.loopback ? 'loopback' : 'sample'} cannot be combined`);
      }
      if (opts.sample) {
        await sampleDemo(opts);
        return;
      }
      const { podsUnavailable } = await import('../../pods/prerequisites.js');
      const unavailable = opts.loopback ? undefined : podsUnavailable();
      if (unavailable && opts.pods) {
        throw new Error(`demo --pods: ${unavailable}; without --pods, weft demo runs on loopback ports`);
      }
      if (unavailable) {
        process.stderr.write(
          `weft demo: ${unavailable}; running each application on a loopback port behind its proxy instead (interception is off: the applications call out through HTTP_PROXY and grpc_proxy)\n`,
        );
      }
      await meshedDemo(opts, opts.loopback === true || unavailable !== undefined);
    });
}

interface DemoFlags {
  sample?: boolean;
  loopback?: boolean;
  pods?: boolean;
  podBridge: string;
  podCidr: string;
  serviceCidr: string;
  vizAddr: string;
  metricsScrapeInterval: string;
  appPort: string;
  inboundPort: string;
  outboundPort: string;
  adminPort: string;
}

async function meshedDemo(opts: DemoFlags, loopback: boolean): Promise<void> {
  const { startDemo, NAMESPACE, VOTING_PROTO } = await import('../../demo/emojivoto.js');
  // Ctrl-C while it starts: weft up, the pods and their network go away too.
  const starting = new AbortController();
  const abort = (): void => starting.abort();
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  const demo = await startDemo(
    {
      podBridge: opts.podBridge,
      podCidr: opts.podCidr,
      serviceCidr: opts.serviceCidr,
      loopback,
      vizAddr: opts.vizAddr,
      metricsScrapeInterval: opts.metricsScrapeInterval,
    },
    (line) => process.stderr.write(`weft demo: ${line}\n`),
    starting.signal,
  ).catch((err: Error) => {
    if (starting.signal.aborted) return undefined;
    throw err;
  });
  process.off('SIGINT', abort);
  process.off('SIGTERM', abort);
  if (!demo) {
    process.stderr.write(
      'weft demo: stopped before it was up: the pods, their network and the control plane are gone\n',
    );
    return;
  }
  const stop = (): void => {
    process.stderr.write('weft demo: stopping: the pods, their network and the control plane go away\n');
    void demo.stop();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const cp = `${demo.controlPlane.host}:${demo.controlPlane.port}`;
  const vizAddr = formatHostPort(demo.viz);
  const viz = vizAddr === DEFAULT_VIZ_ADDR ? '' : ` --viz-addr ${vizAddr}`;
  const web = demo.pods.find((p) => p.workload === 'web');
  process.stdout.write(
    [
      '',
      loopback
        ? 'Weft demo: emojivoto, meshed, on loopback (no pods: interception is off). Every hop between the proxies is mutual TLS.'
        : 'Weft demo: emojivoto, meshed, as pods on this host. Every hop between the pods is mutual TLS.',
      '',
      ...demo.pods.map((p) => `  pod ${p.namespace}/${p.name.padEnd(16)} ${p.ip}`),
      '',
      `The voting page:      ${demo.webUrl}`,
      `A pod's output:       weft logs web -n ${NAMESPACE} --control-plane ${cp} --state-dir ${demo.stateDir}`,
      ...(loopback
        ? []
        : [
            `Its proxy's metrics:  curl -s http://${web?.ip}:4191/metrics | grep -E '^(route_)?(request|response)_total'`,
          ]),
      `Per-route metrics:    weft profile --proto ${VOTING_PROTO} voting-svc -n ${NAMESPACE} | weft apply -f - --control-plane ${cp} --state-dir ${demo.stateDir}`,
      `Its certificate:      weft identity web -n ${NAMESPACE} --control-plane ${cp} --state-dir ${demo.stateDir}`,
      '',
      `The dashboard:        http://${formatHostPort(demo.viz)}/`,
      `Golden metrics:       weft viz stat deploy -n ${NAMESPACE}${viz}`,
      `Live requests:        weft viz tap deploy/web -n ${NAMESPACE}${viz}`,
      `Who talks to whom:    weft viz edges deploy -n ${NAMESPACE}${viz}`,
      '',
      "Voting for the doughnut fails (emojivoto's bug): the vote bot makes it show in the metrics.",
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  const code = await demo.exited;
  await demo.stop();
  if (code !== 0) throw new Error(`weft up exited ${code}; its last lines:\n${demo.lastLines()}`);
}

async function sampleDemo(opts: DemoFlags): Promise<void> {
  let ports: { app: number; inbound: number; outbound: number; admin: number };
  try {
    ports = {
      app: parsePort(opts.appPort, '--app-port'),
      inbound: parsePort(opts.inboundPort, '--inbound-port'),
      outbound: parsePort(opts.outboundPort, '--outbound-port'),
      admin: parsePort(opts.adminPort, '--admin-port'),
    };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const app = await startSampleServer({ host: '127.0.0.1', port: ports.app });
  const config = resolveProxyConfig({
    inboundAddr: `127.0.0.1:${ports.inbound}`,
    outboundAddr: `127.0.0.1:${ports.outbound}`,
    adminAddr: `127.0.0.1:${ports.admin}`,
    inboundForward: formatHostPort(app.addr),
  });
  const log = createLogger(parseLogLevel(process.env.WEFT_PROXY_LOG, 'WEFT_PROXY_LOG', 'warn'), 'weft-proxy');
  const proxy = await SidecarProxy.create(config, log);
  const done = runProxy(proxy, log);
  // runProxy logs the bound addresses; the demo prints its guide once they are known.
  const appAddr = formatHostPort(app.addr);
  const ready = await waitReady(`http://${formatHostPort(config.adminAddr)}/ready`);
  if (ready) {
    process.stdout.write(
      [
        '',
        `Weft demo: a sample app on ${appAddr}, with a Weft proxy in front of it.`,
        '',
        'Send requests through the proxy:',
        `  inbound  (as a meshed client would reach the app):  curl http://127.0.0.1:${ports.inbound}/hello`,
        `  outbound (the app calling out, explicit proxy):     curl -x http://127.0.0.1:${ports.outbound} http://${appAddr}/hello`,
        `  a failing request (counted as a failure):           curl http://127.0.0.1:${ports.inbound}/status/503`,
        '',
        `Metrics (Prometheus): curl http://127.0.0.1:${ports.admin}/metrics | grep -E '^(request|response)_total'`,
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
  }
  await done;
  app.server.close();
}

async function waitReady(url: string): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(url)).ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}
