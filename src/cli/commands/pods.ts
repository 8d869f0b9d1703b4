import type { Command } from 'commander';
import type { PodLogsMessage, PodStatusMessage } from '../../grpc/protos.js';
import { UsageError } from '../errors.js';
import { call, controlPlaneOption, stateDirOption, target } from './resources.js';

interface RunFlags {
  namespace: string;
  serviceAccount?: string;
  label: string[];
  env: string[];
  restart: string;
  replicas: string;
  port: string;
  controlPlane: string;
  stateDir: string;
}

function pairs(items: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`${flag}: "${item}" is not key=value`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** `weft run`: asks weft up to run a workload as pods (root on Linux), meshed. */
export function runCommand(program: Command): void {
  program
    .command('run')
    .description('run a workload as pods on this host, each with its proxy (weft up as root on Linux)')
    .argument('<workload>', "the workload's name (its pods are <workload>-xxxxx)")
    .argument('<command...>', 'the application to run, after --')
    .option('-n, --namespace <ns>', 'the namespace', 'default')
    .option('--service-account <sa>', 'the service account (default: the workload name)')
    .option('--label <key=value>', 'a label (repeat; default app=<workload>)', collect, [])
    .option('--env <KEY=value>', 'an environment variable for the application (repeat)', collect, [])
    .option('--restart <policy>', 'Always, OnFailure (for jobs) or Never', 'Always')
    .option('--replicas <n>', 'how many pods', '1')
    .option('--port <port>', 'on loopback (no root): the port the application listens on', '8080')
    .addOption(controlPlaneOption())
    .addOption(stateDirOption())
    .action(async (workload: string, command: string[], flags: RunFlags) => {
      const replicas = Number(flags.replicas);
      if (!/^\d{1,5}$/.test(flags.port) || Number(flags.port) < 1 || Number(flags.port) > 65535) {
        throw new UsageError(`--port: "${flags.port}" is not a port`);
      }
      if (!Number.isInteger(replicas) || replicas < 1)
        throw new UsageError(`--replicas: "${flags.replicas}" is not a positive integer`);
      const res = await call<{ pods: PodStatusMessage[] }>(
        target(flags),
        'run',
        {
          namespace: flags.namespace,
          workload,
          serviceAccount: flags.serviceAccount ?? '',
          labels: pairs(flags.label, '--label'),
          command,
          env: pairs(flags.env, '--env'),
          restartPolicy: flags.restart,
          replicas,
          port: Number(flags.port),
          // The application runs where it was asked for, as a command run here would.
          workingDir: process.cwd(),
        },
        60_000,
        'pods',
      );
      for (const p of res.pods) process.stdout.write(`pod/${p.name} running (${p.ip})\n`);
    });
}

/** `weft logs`: the application's (and with --proxy, the proxy's) output of a workload's pods. */
export function logsCommand(program: Command): void {
  program
    .command('logs')
    .description("a workload's pods' output: the application's, and its proxy's")
    .argument('<workload>')
    .option('-n, --namespace <ns>', 'the namespace', 'default')
    .option('--proxy', "the proxy's output only")
    .option('--app', "the application's output only")
    .addOption(controlPlaneOption())
    .addOption(stateDirOption())
    .action(
      async (
        workload: string,
        flags: {
          namespace: string;
          proxy?: boolean;
          app?: boolean;
          controlPlane: string;
          stateDir: string;
        },
      ) => {
        const res = await call<{ pods: PodLogsMessage[] }>(
          target(flags),
          'logs',
          { namespace: flags.namespace, workload },
          10_000,
          'pods',
        );
        const out: string[] = [];
        for (const p of res.pods) {
          if (!flags.proxy) out.push(...p.app.map((l) => `${p.name} app | ${l}`));
          if (!flags.app) out.push(...p.proxy.map((l) => `${p.name} weft-proxy | ${l}`));
        }
        process.stdout.write(out.length > 0 ? `${out.join('\n')}\n` : '');
      },
    );
}
