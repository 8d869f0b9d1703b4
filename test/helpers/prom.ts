/**
 * A small parser for the Prometheus text exposition format, enough to find a sample
 * by metric name and a subset of its labels (label order is not significant).
 */
import http from 'node:http';
import type { HostPort } from './proxy.js';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: Sample[];
  /** `# TYPE` lines: metric family name -> type. */
  types: Map<string, string>;
  text: string;
}

/** Values as Prometheus reads them (Go's ParseFloat: Inf and NaN in any case). */
function parseValue(raw: string): number {
  switch (raw.toLowerCase()) {
    case '+inf':
    case 'inf':
      return Number.POSITIVE_INFINITY;
    case '-inf':
      return Number.NEGATIVE_INFINITY;
    case 'nan':
      return Number.NaN;
    default: {
      const n = Number(raw);
      if (Number.isNaN(n)) throw new Error(`bad sample value ${JSON.stringify(raw)}`);
      return n;
    }
  }
}

/** Parses one sample line: `name{a="x",b="y"} value [timestamp]`. */
export function parseSampleLine(line: string): Sample {
  let i = 0;
  while (i < line.length && /[a-zA-Z0-9_:]/.test(line[i] as string)) i++;
  const name = line.slice(0, i);
  if (name === '') throw new Error(`no metric name in ${JSON.stringify(line)}`);
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ' || line[i] === ',') i++;
      if (line[i] === '}') {
        i++;
        break;
      }
      const start = i;
      while (i < line.length && /[a-zA-Z0-9_]/.test(line[i] as string)) i++;
      const key = line.slice(start, i);
      if (key === '' || line[i] !== '=' || line[i + 1] !== '"') {
        throw new Error(`bad label at ${i} in ${JSON.stringify(line)}`);
      }
      i += 2;
      let value = '';
      for (;;) {
        const c = line[i];
        if (c === undefined) throw new Error(`unterminated label value in ${JSON.stringify(line)}`);
        i++;
        if (c === '"') break;
        if (c === '\\') {
          const e = line[i++];
          value += e === 'n' ? '\n' : (e ?? '');
        } else {
          value += c;
        }
      }
      labels[key] = value;
    }
  }
  const rest = line.slice(i).trim().split(/\s+/);
  const raw = rest[0];
  if (raw === undefined || raw === '') throw new Error(`no value in ${JSON.stringify(line)}`);
  return { name, labels, value: parseValue(raw) };
}

export function parseProm(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line);
      if (m?.[1] && m[2]) types.set(m[1], m[2]);
      continue;
    }
    samples.push(parseSampleLine(line));
  }
  return { samples, types, text };
}

function matches(s: Sample, name: string, labels: Record<string, string>): boolean {
  if (s.name !== name) return false;
  for (const [k, v] of Object.entries(labels)) {
    if (s.labels[k] !== v) return false;
  }
  return true;
}

/** All samples named `name` whose labels include every pair of `labels`. */
export function findSamples(exp: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return exp.samples.filter((s) => matches(s, name, labels));
}

/** The one sample named `name` with a label superset of `labels`; throws if several match. */
export function findSample(
  exp: Exposition,
  name: string,
  labels: Record<string, string> = {},
): Sample | undefined {
  const all = findSamples(exp, name, labels);
  if (all.length > 1) {
    throw new Error(
      `${all.length} samples of ${name} match ${JSON.stringify(labels)}: ${all
        .map((s) => JSON.stringify(s.labels))
        .join(' ')}`,
    );
  }
  return all[0];
}

/** The sum of the values of every matching sample (0 when none match). */
export function sumSamples(exp: Exposition, name: string, labels: Record<string, string> = {}): number {
  return findSamples(exp, name, labels).reduce((acc, s) => acc + s.value, 0);
}

/** A readable dump of the matching family for assertion messages. */
export function dump(exp: Exposition, name: string): string {
  return exp.samples
    .filter((s) => s.name === name || s.name.startsWith(`${name}_`))
    .map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`)
    .join('\n');
}

/** GET /metrics from the admin listener and parse it. */
export function scrape(admin: HostPort): Promise<Exposition> {
  return new Promise<Exposition>((resolve, reject) => {
    const req = http.get(
      { host: admin.host, port: admin.port, path: '/metrics', agent: false, timeout: 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => {
          if (res.statusCode !== 200) {
            reject(new Error(`/metrics answered ${res.statusCode}: ${body.slice(0, 500)}`));
            return;
          }
          try {
            resolve(parseProm(body));
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('/metrics timed out')));
    req.on('error', reject);
  });
}
