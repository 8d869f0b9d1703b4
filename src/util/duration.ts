const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a duration such as `100ms`, `1s`, `1.5s`, `2m` into milliseconds. */
export function parseDuration(text: string, what: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!match) throw new Error(`${what}: "${text}" is not a duration (use e.g. 100ms, 1s, 2m)`);
  const ms = Number(match[1]) * (UNITS[match[2] ?? 's'] ?? 1000);
  if (!Number.isFinite(ms) || ms > 2 ** 31 - 1) throw new Error(`${what}: "${text}" is too long`);
  return Math.round(ms);
}
