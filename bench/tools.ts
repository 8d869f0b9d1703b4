// The external programs the harness drives, their versions, and a clear error when one is missing.
import { spawnSync } from 'node:child_process';

export const APT_HINT = 'apt-get update && apt-get install -y haproxy nginx wrk nghttp2-client openssl';

const VERSION_ARGS: Record<string, string[]> = {
  wrk: ['-v'],
  h2load: ['--version'],
  nginx: ['-v'],
  haproxy: ['-v'],
  openssl: ['version'],
};

/** First line of `tool --version` (or equivalent), or undefined when the tool is not installed. */
export function toolVersion(tool: string): string | undefined {
  const res = spawnSync(tool, VERSION_ARGS[tool] ?? ['--version'], { encoding: 'utf8', timeout: 5000 });
  if (res.error) return undefined;
  const text = `${res.stdout ?? ''}\n${res.stderr ?? ''}`.trim();
  return text.split('\n')[0]?.trim() ?? '';
}

export function toolVersions(): Record<string, string> {
  const out: Record<string, string> = { node: process.version };
  for (const tool of Object.keys(VERSION_ARGS)) out[tool] = toolVersion(tool) ?? 'missing';
  return out;
}

/** Throws naming every missing tool and how to install them. */
export function requireTools(tools: Record<string, string>, needed: string[]): void {
  const missing = needed.filter((t) => tools[t] === 'missing');
  if (missing.length > 0) throw new Error(`missing tool(s): ${missing.join(', ')} (install: ${APT_HINT})`);
}
