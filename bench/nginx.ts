// The HTTP/1.1 upstream: Debian's nginx answering every request with a 64-byte body, configured from a
// generated file in the run's temp dir and run in the foreground.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Managed, startProcess } from './procs.js';
import { freePort, waitForPort } from './ready.js';

export const BODY_64 = 'weft-bench 64-byte body .......................................\n';

export interface Upstream {
  proc: Managed;
  port: number;
}

export function nginxConfig(dir: string, port: number): string {
  const tmp = (name: string) => join(dir, name);
  return `worker_processes 1;
pid ${tmp('nginx.pid')};
error_log stderr warn;
events {
  worker_connections 4096;
}
http {
  access_log off;
  client_body_temp_path ${tmp('client_body')};
  proxy_temp_path ${tmp('proxy')};
  fastcgi_temp_path ${tmp('fastcgi')};
  uwsgi_temp_path ${tmp('uwsgi')};
  scgi_temp_path ${tmp('scgi')};
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      default_type text/plain;
      return 200 '${BODY_64}';
    }
  }
}
`;
}

export async function startNginx(tempDir: string): Promise<Upstream> {
  if (Buffer.byteLength(BODY_64) !== 64) throw new Error('BODY_64 must be 64 bytes');
  const dir = join(tempDir, 'nginx');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(dir, port));
  const proc = startProcess('nginx', 'nginx', ['-p', dir, '-e', 'stderr', '-c', conf, '-g', 'daemon off;']);
  await waitForPort(proc, port, 10_000);
  return { proc, port };
}
