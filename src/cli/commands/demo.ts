import type { Command } from 'commander';
import { resolveProxyConfig } from '../../proxy/config.js';
import { SidecarProxy } from '../../proxy/proxy.js';
import { startSampleServer } from '../../sample/server.js';
import { formatHostPort, parsePort } from '../../util/addr.js';
import { createLogger, parseLogLevel } from '../../util/log.js';
import { UsageError } from '../errors.js';
import { runProxy } from './proxy.js';

export function demoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'run a sample application with a Weft proxy in front of it, and print where to send requests',
    )
    .option('--app-port <port>', 'port of the sample application on 127.0.0.1', '8080')
    .option('--inbound-port <port>', 'proxy inbound port on 127.0.0.1', '4143')
    .option('--outbound-port <port>', 'proxy outbound port on 127.0.0.1', '4140')
    .option('--admin-port <port>', 'proxy admin port on 127.0.0.1', '4191')
    .action(
      async (opts: { appPort: string; inboundPort: string; outboundPort: string; adminPort: string }) => {
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
        const log = createLogger(
          parseLogLevel(process.env.WEFT_PROXY_LOG, 'WEFT_PROXY_LOG', 'warn'),
          'weft-proxy',
        );
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
      },
    );
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
