import { type Command, Option } from 'commander';
import {
  PROXY_SETTINGS,
  type RawSettings,
  resolveProxyConfig,
  type SettingName,
} from '../../proxy/config.js';
import { SidecarProxy } from '../../proxy/proxy.js';
import { formatHostPort } from '../../util/addr.js';
import { createLogger, parseLogLevel } from '../../util/log.js';
import { UsageError } from '../errors.js';

/** Adds the proxy's settings as flags, each naming its environment variable and default. */
export function addProxyOptions(cmd: Command, skip: SettingName[] = []): Command {
  for (const [name, [flag, env, def, help]] of Object.entries(PROXY_SETTINGS)) {
    if (skip.includes(name as SettingName)) continue;
    const described = def === '' ? `${help} (env ${env})` : `${help} (env ${env}, default ${def})`;
    const option =
      name === 'enableShutdownEndpoint' || name === 'transparent'
        ? new Option(flag, `${help} (env ${env})`)
        : name === 'label' || name === 'namedPort'
          ? new Option(`${flag} <${name === 'label' ? 'key=value' : 'name=port'}>`, described).argParser(
              (v: string, prev: string[] = []) => [...prev, v],
            )
          : new Option(`${flag} <value>`, described);
    cmd.addOption(option);
  }
  return cmd;
}

export function proxyCommand(program: Command): void {
  addProxyOptions(
    program
      .command('proxy')
      .description(
        'run the sidecar proxy: inbound, outbound and admin listeners (log level: WEFT_PROXY_LOG)',
      ),
  ).action(async (flags: RawSettings) => {
    let config: ReturnType<typeof resolveProxyConfig>;
    let level: string;
    try {
      config = resolveProxyConfig(flags);
      level = parseLogLevel(process.env.WEFT_PROXY_LOG, 'WEFT_PROXY_LOG');
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const log = createLogger(level, 'weft-proxy');
    await runProxy(await SidecarProxy.create(config, log), log);
  });
}

/**
 * Starts a proxy, logs where it listens once it is ready (with a workload, once it has its
 * certificate and is registered), and shuts it down gracefully on SIGTERM or SIGINT;
 * resolves when the shutdown (from a signal or /shutdown) has finished.
 */
export async function runProxy(proxy: SidecarProxy, log: ReturnType<typeof createLogger>): Promise<void> {
  // Signals are handled from the start, so one that arrives just after "proxy ready" still drains.
  process.once('SIGTERM', () => void proxy.shutdown('SIGTERM'));
  process.once('SIGINT', () => void proxy.shutdown('SIGINT'));
  const bound = await proxy.start();
  if (!bound) {
    // Shut down before it was ready (still waiting for its certificate, say).
    await proxy.done;
    return;
  }
  log.info(
    {
      inbound: formatHostPort(bound.inbound),
      outbound: formatHostPort(bound.outbound),
      admin: formatHostPort(bound.admin),
      ...(bound.tap ? { tap: formatHostPort(bound.tap) } : {}),
    },
    'proxy ready',
  );
  await proxy.done;
}
