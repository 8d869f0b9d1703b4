import { type Logger, pino } from 'pino';

export type { Logger };

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent', 'off'];

/** Validates a log level from `WEFT_PROXY_LOG` (or similar), naming the variable on error. */
export function parseLogLevel(value: string | undefined, what: string, fallback = 'info'): string {
  if (value === undefined || value.trim() === '') return fallback;
  const level = value.trim().toLowerCase();
  if (!LEVELS.includes(level)) {
    throw new Error(`${what}: "${value}" is not a log level (one of ${LEVELS.slice(0, 6).join(', ')}, off)`);
  }
  return level === 'off' ? 'silent' : level;
}

/** Structured JSON logs on stdout; the level is validated by parseLogLevel. */
export function createLogger(level: string, name: string): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}
