/**
 * What the four entry files share: validate the environment first (a bad value is one
 * line on stderr and exit status 2), log JSON with pino on stdout, start, and on SIGTERM or
 * SIGINT stop cleanly and exit 0. A second signal exits at once with status 1.
 */
import { type Logger, pino } from 'pino';
import { ConfigError, type Env } from './env.js';

export type { Logger };

export interface Running {
  /** Stops serving (or looping) and releases every handle. */
  stop(): Promise<void>;
}

/** How long a clean stop may take before the process gives up and exits 1. */
const STOP_TIMEOUT_MS = 10_000;

export function createLogger(name: string): Logger {
  return pino({ name, base: { pid: process.pid } });
}

/** Parses the environment or exits 2 with one line on stderr saying what is wrong. */
export function configOrExit<C>(name: string, parse: (env: Env) => C, env: Env = process.env): C {
  try {
    return parse(env);
  } catch (err) {
    const message = err instanceof ConfigError ? err.message : `invalid configuration: ${String(err)}`;
    process.stderr.write(`${name}: ${message}\n`);
    process.exit(2);
  }
}

export function runProgram(name: string, log: Logger, start: () => Promise<Running>): void {
  let stopping = false;
  const started = start();

  const shutdown = async (signal: NodeJS.Signals): Promise<void> => {
    log.info({ signal }, 'shutting down');
    setTimeout(() => {
      log.error({ timeoutMs: STOP_TIMEOUT_MS }, 'did not stop in time; exiting');
      process.exit(1);
    }, STOP_TIMEOUT_MS).unref();
    try {
      const running = await started;
      await running.stop();
    } catch (err) {
      log.error({ err }, 'error while stopping');
      process.exit(1);
    }
    log.info('stopped');
    process.exit(0);
  };

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      void shutdown(signal);
    });
  }

  started.catch((err: unknown) => {
    log.fatal({ err }, 'failed to start');
    process.stderr.write(`${name}: failed to start: ${String(err)}\n`);
    process.exit(1);
  });
}
