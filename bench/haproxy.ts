// HAProxy (Debian's) as the reference reverse proxy: one thread, keep-alive on both sides,
// `http-reuse always`, explicit timeouts, generated config, run in the foreground.
//
// `haproxy-mtls` is the same shape as `weft-mesh`: HAProxy A (client side) takes plaintext HTTP/1.1 and
// sends it over mutual TLS 1.3 (HTTP/2 inside, multiplexed, as Weft does between its proxies) to
// HAProxy B (server side), which checks the client certificate and forwards plaintext to the upstream.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLIENT_ID, SERVER_ID } from './mesh.js';
import { makePki } from './pki.js';
import { probeUntilOk } from './probe.js';
import { type Managed, startProcess, stopProcess } from './procs.js';
import { freePort, waitForPort } from './ready.js';
import type { StartedTarget, TargetContext } from './targets.js';

const GLOBAL_AND_DEFAULTS = `global
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
`;

export function haproxyConfig(port: number, upstreamPort: number): string {
  return `${GLOBAL_AND_DEFAULTS}
frontend bench_in
  bind 127.0.0.1:${port}
  default_backend bench_upstream

backend bench_upstream
  server upstream 127.0.0.1:${upstreamPort}
`;
}

export interface MtlsFiles {
  anchor: string;
  /** Certificate and key (one PEM) of each side. */
  clientPem: string;
  serverPem: string;
}

/** HAProxy A: plaintext in, mutual TLS 1.3 out to B, checking B's certificate names SERVER_ID. */
export function haproxyMtlsClientConfig(port: number, serverPort: number, f: MtlsFiles): string {
  return `${GLOBAL_AND_DEFAULTS}
frontend mtls_client_in
  bind 127.0.0.1:${port}
  default_backend mtls_to_server

backend mtls_to_server
  server b 127.0.0.1:${serverPort} ssl crt ${f.clientPem} ca-file ${f.anchor} verify required verifyhost ${SERVER_ID} sni str(${SERVER_ID}) alpn h2 ssl-min-ver TLSv1.3
`;
}

/** HAProxy B: mutual TLS 1.3 in (a client certificate from the anchor is required), plaintext to the upstream. */
export function haproxyMtlsServerConfig(port: number, upstreamPort: number, f: MtlsFiles): string {
  return `${GLOBAL_AND_DEFAULTS}
frontend mtls_server_in
  bind 127.0.0.1:${port} ssl crt ${f.serverPem} ca-file ${f.anchor} verify required ssl-min-ver TLSv1.3 alpn h2,http/1.1
  default_backend bench_upstream

backend bench_upstream
  server upstream 127.0.0.1:${upstreamPort}
`;
}

/** -db: stay in the foreground, one process (no master/worker), so its pid is the proxy. */
async function runHaproxy(name: string, conf: string, port: number): Promise<Managed> {
  const proc = startProcess(name, 'haproxy', ['-db', '-f', conf]);
  try {
    await waitForPort(proc, port, 10_000);
  } catch (err) {
    await stopProcess(proc);
    throw err;
  }
  return proc;
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
  return { proc: await runHaproxy('haproxy', conf, port), port };
}

export async function startHaproxyMtls(ctx: TargetContext): Promise<StartedTarget> {
  const dir = join(ctx.tempDir, `haproxy-mtls-${ctx.protocol}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const started: Managed[] = [];
  try {
    const pki = await makePki(dir);
    const files: MtlsFiles = {
      anchor: pki.anchor,
      serverPem: (await pki.leaf(SERVER_ID)).pem,
      clientPem: (await pki.leaf(CLIENT_ID)).pem,
    };
    const serverPort = await freePort();
    const serverConf = join(dir, 'haproxy-server.cfg');
    writeFileSync(serverConf, haproxyMtlsServerConfig(serverPort, ctx.upstreamPort, files));
    started.push(await runHaproxy('haproxy server side', serverConf, serverPort));
    const port = await freePort();
    const clientConf = join(dir, 'haproxy-client.cfg');
    writeFileSync(clientConf, haproxyMtlsClientConfig(port, serverPort, files));
    started.push(await runHaproxy('haproxy client side', clientConf, port));
    // B only speaks TLS and requires a client certificate: a 2xx here went through the mutual TLS.
    await probeUntilOk(() => ctx.probe({ port }), 5000, 'request through haproxy A -> B');
    return {
      port,
      procs: started.slice().reverse(),
      cleanup,
      route: `haproxy 127.0.0.1:${port} -> mTLS -> haproxy 127.0.0.1:${serverPort} -> ${ctx.upstreamName} 127.0.0.1:${ctx.upstreamPort}`,
    };
  } catch (err) {
    for (const m of started.reverse()) await stopProcess(m);
    cleanup();
    throw err;
  }
}
