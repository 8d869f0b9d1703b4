const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 and U+03BC, as Go accepts both
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)/gy;

/**
 * Parses a duration into milliseconds (rounded): `100ms`, `1s`, `1.5s`, `2m`, or several
 * parts as Go writes them (`1m30s`, `1h2m3.5s`), so Linkerd's and Kubernetes' durations read too.
 */
export function parseDuration(text: string, what: string): number {
  const trimmed = text.trim();
  let ms = 0;
  PART.lastIndex = 0;
  let end = 0;
  for (let m = PART.exec(trimmed); m !== null; m = PART.exec(trimmed)) {
    ms += Number(m[1]) * (UNITS[m[2] as string] ?? 1000);
    end = PART.lastIndex;
  }
  if (end === 0 || end !== trimmed.length) {
    throw new Error(`${what}: "${text}" is not a duration (use e.g. 100ms, 1s, 2m)`);
  }
  if (!Number.isFinite(ms) || ms > 2 ** 31 - 1) throw new Error(`${what}: "${text}" is too long`);
  return Math.round(ms);
}
