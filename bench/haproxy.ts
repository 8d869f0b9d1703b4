// HAProxy (Debian's) as the reference reverse proxy: one thread, keep-alive on both sides,
// `http-reuse always`, explicit timeouts, generated config, run in the foreground.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Managed, startProcess } from './procs.js';
import { freePort, waitForPort } from './ready.js';

export function haproxyConfig(port: number, upstreamPort: number): string {
  return `global
  nbthread 1
  # Well under the file-descriptor limit (haproxy needs about 2 per connection).
  maxconn 4096

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-request 10s
  timeout http-keep-alive 60s

frontend bench_in
  bind 127.0.0.1:${port}
  default_backend bench_upstream

backend bench_upstream
  server upstream 127.0.0.1:${upstreamPort}
`;
}

export async function startHaproxy(
  tempDir: string,
  upstreamPort: number,
): Promise<{ proc: Managed; port: number }> {
  const dir = join(tempDir, 'haproxy');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'haproxy.cfg');
  writeFileSync(conf, haproxyConfig(port, upstreamPort));
  // -db: stay in the foreground, one process (no master/worker), so its pid is the proxy.
  const proc = startProcess('haproxy', 'haproxy', ['-db', '-f', conf]);
  await waitForPort(proc, port, 10_000);
  return { proc, port };
}
