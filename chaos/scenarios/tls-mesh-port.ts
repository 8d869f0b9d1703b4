// What the 'tls' scenarios share: a real proxy child with a mesh identity (from a real Identity
// service, handed out by a stand-in Registry) in front of an app that logs every connection and
// request that reaches it, its inbound authorization allowing one client identity only, with the
// handshake and detect timeouts the scenario chooses; and clients that attack its mesh (mTLS) port.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { identityName } from '../../src/identity/names.js';
import { headValues, type RawHttpApp, startRawHttpApp } from '../../test/helpers/apps.js';
import {
  type IdentityServer,
  leaseIdentity,
  startFakeRegistry,
  startIdentityServer,
  testCa,
} from '../../test/helpers/identity.js';
import { Cleanup, LOOPBACK, waitFor } from '../../test/helpers/net.js';
import { type Exposition, scrape, sumSamples } from '../../test/helpers/prom.js';
import { baseArgs, type ProxyHandle, startProxy } from '../../test/helpers/proxy.js';
import { sampleProcess } from '../context.js';
import type { ResourceSample, ScenarioContext } from '../scenario.js';

/** The one client identity the proxy's inbound authorization allows. */
export const ALLOWED_CLIENT = identityName('vote-bot', 'default');
/** A request that forges the header the application trusts: it must never reach the app so. */
const FORGED_CLIENT = identityName('admin', 'default');

export interface MeshPortOptions {
  /** --inbound-tls-handshake-timeout, not its default (another change may move it). */
  readonly handshakeTimeoutMs: number;
  /** --detect-timeout: how long the SNI peek of a ClientHello may wait. */
  readonly detectTimeoutMs: number;
}

/** A client's certificate and key (PEM), as a hostile or a legitimate client presents them. */
export interface ClientCert {
  readonly cert: string;
  readonly key: string;
}

export interface MeshPort {
  readonly proxy: ProxyHandle;
  readonly app: RawHttpApp;
  /** The proxy's identity: the SNI its mesh port answers. */
  readonly serverName: string;
  readonly anchorsPem: string;
  /** A certificate for `name` from the mesh's CA, expired if `expired`. */
  issue(name: string, opts?: { expired?: boolean }): Promise<ClientCert>;
  sample(): ResourceSample;
  metrics(): Promise<Exposition>;
  close(): Promise<void>;
}

/** Starts the Identity service, a Registry that leases its identity, the logging app and the proxy. */
export async function startMeshPort(ctx: ScenarioContext, opts: MeshPortOptions): Promise<MeshPort> {
  const cleanup = new Cleanup();
  try {
    const srv: IdentityServer = await startIdentityServer();
    cleanup.add(() => srv.close());
    const settings = srv.workload('web');
    const reg = await startFakeRegistry(() => ({ ttlMs: 60_000, identity: leaseIdentity(settings) }));
    cleanup.add(() => reg.close());
    // The stand-in Registry takes any credential; the proxy still needs one to register with.
    const registryToken = join(ctx.dir, 'registry.token');
    writeFileSync(registryToken, 'stand-in-registry-credential', { mode: 0o600 });
    const app = await startRawHttpApp((head) => {
      const body = `client-id=${headValues(head, 'weft-client-id').join(',')}`;
      return `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
    });
    cleanup.add(() => app.close());
    const proxy = await startProxy([
      ...baseArgs(app.port),
      '--destination',
      reg.addr,
      '--control-plane-token-file',
      registryToken,
      '--workload',
      'web',
      '--pod',
      'web-1',
      '--service-account',
      'web',
      '--inbound-authorized-identities',
      ALLOWED_CLIENT,
      '--inbound-tls-handshake-timeout',
      `${opts.handshakeTimeoutMs}ms`,
      '--detect-timeout',
      `${opts.detectTimeoutMs}ms`,
    ]);
    cleanup.add(() => proxy.stop('SIGKILL'));
    const pid = proxy.proc.pid as number;
    ctx.log(`proxy ${pid} ready, mesh port ${proxy.inbound.port}, app ${app.port}`);
    return {
      proxy,
      app,
      serverName: settings.name,
      anchorsPem: srv.ca.trustAnchorsPem,
      issue: async (name, o = {}) => {
        const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
        const past = Date.now() - 48 * 3600_000;
        const issued = await srv.ca.issue(
          name,
          publicKey as KeyObject,
          o.expired ? { notBefore: new Date(past), notAfter: new Date(past + 3600_000) } : {},
        );
        return { cert: issued.chainPem, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
      },
      sample: () => sampleProcess(pid),
      metrics: () => scrape(proxy.admin),
      close: () => cleanup.run(),
    };
  } catch (err) {
    await cleanup.run();
    throw err;
  }
}

/** A certificate for `name` from a CA the mesh does not trust. */
export async function otherCaCert(name: string): Promise<ClientCert> {
  const ca = await testCa();
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const issued = await ca.issue(name, publicKey as KeyObject);
  return { cert: issued.chainPem, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

/** A self-signed certificate naming `name`, made by openssl in `dir`. */
export function selfSignedCert(dir: string, name: string): ClientCert {
  const key = join(dir, 'self-signed.key');
  const cert = join(dir, 'self-signed.crt');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-addext',
      `subjectAltName=DNS:${name}`,
    ],
    { stdio: 'ignore' },
  );
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

/** What one client got from the mesh port. */
export interface Attempt {
  /** The TLS handshake completed on the client's side (TLS 1.3 verifies the client after that). */
  readonly secured: boolean;
  /** The response's status, if any came; 0 otherwise. */
  readonly status: number;
  /** The response's body (the app says which weft-client-id it saw). */
  readonly body: string;
}

/**
 * Opens TLS to the mesh port as the mesh would (SNI the proxy's identity, ALPN http/1.1),
 * presenting `cert` if given, and sends one HTTP/1 request that forges weft-client-id.
 */
export function attempt(port: MeshPort, cert: ClientCert | undefined, timeoutMs = 10_000): Promise<Attempt> {
  return new Promise((resolve) => {
    let secured = false;
    let data = '';
    const socket = tls.connect({
      host: LOOPBACK,
      port: port.proxy.inbound.port,
      servername: port.serverName,
      ca: port.anchorsPem,
      ALPNProtocols: ['http/1.1'],
      // The scenario checks the server side; the client only needs the bytes to flow.
      checkServerIdentity: () => undefined,
      ...(cert ? { cert: cert.cert, key: cert.key } : {}),
    });
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('secureConnect', () => {
      secured = true;
      socket.write(
        `GET /attempt HTTP/1.1\r\nhost: web\r\nweft-client-id: ${FORGED_CLIENT}\r\nconnection: close\r\n\r\n`,
      );
    });
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      data += d;
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      const m = /^HTTP\/1\.1 (\d{3}) /.exec(data);
      resolve({ secured, status: m ? Number(m[1]) : 0, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
  });
}

/** The ClientHello a mesh client sends to `port` (captured once, to replay without finishing). */
export async function captureClientHello(serverName: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const capture = net.createServer((s) => {
      let buf = Buffer.alloc(0);
      s.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
          s.destroy();
          capture.close();
          resolve(buf.subarray(0, 5 + buf.readUInt16BE(3)));
        }
      });
    });
    capture.listen(0, LOOPBACK, () => {
      const { port } = capture.address() as net.AddressInfo;
      const c = tls.connect({ host: LOOPBACK, port, servername: serverName, ALPNProtocols: ['h2'] });
      c.on('error', () => {});
      c.on('close', () => undefined);
    });
    capture.on('error', reject);
  });
}

/** A metric's sum on the proxy. */
export async function metric(port: MeshPort, name: string, labels: Record<string, string>): Promise<number> {
  return sumSamples(await port.metrics(), name, labels);
}

/** Waits until the proxy's descriptors are back to `baseline` (a little slack for its own timers); returns the last count. */
export async function fdsBackTo(port: MeshPort, baseline: number, timeoutMs = 15_000): Promise<number> {
  let fds = port.sample().fds;
  try {
    await waitFor(
      () => {
        fds = port.sample().fds;
        return fds <= baseline + 2;
      },
      'descriptors back to baseline',
      timeoutMs,
      100,
    );
  } catch {
    // Reported by the caller against its goal.
  }
  return fds;
}

/** The allowed client's request is served, and the app sees the proxy's weft-client-id, not the forged one. */
export async function allowedServed(port: MeshPort): Promise<boolean> {
  const ok = await attempt(port, await port.issue(ALLOWED_CLIENT));
  return ok.status === 200 && ok.body === `client-id=${ALLOWED_CLIENT}`;
}
