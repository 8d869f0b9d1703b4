/**
 * The control plane's Identity service (src/controlplane/identity/service.ts) over real
 * gRPC TLS in the test process, with its own CA, a token per test workload, and a capture
 * logger, for testing the proxy's identity client against the real thing.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { CertificateAuthority, createIssuer, createTrustAnchor } from '../../src/controlplane/identity/ca.js';
import { identityServerCredentials, identityService } from '../../src/controlplane/identity/service.js';
import { TokenError, type TokenIdentity } from '../../src/controlplane/identity/tokens.js';
import {
  type CertifyRequestMessage,
  type CertifyResponseMessage,
  type LeaseMessage,
  serviceConstructor,
  type WorkloadMessage,
} from '../../src/grpc/protos.js';
import { DEFAULT_DOMAIN, identityName } from '../../src/identity/names.js';
import { Registry } from '../../src/metrics/registry.js';
import type { IdentitySettings } from '../../src/proxy/identity/settings.js';
import type { Logger } from '../../src/util/log.js';
import { makeTempDir } from './controlplane.js';
import type { HostPort } from './proxy.js';

/** A pino logger whose records (parsed) land in `records`. */
export function captureLogger(level = 'debug'): { log: Logger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) records.push(JSON.parse(line));
      cb();
    },
  });
  return { log: pino({ level }, sink), records };
}

export interface IdentityServer {
  addr: HostPort;
  ca: CertificateAuthority;
  /** The test's directory: trust anchors and token files. */
  dir: string;
  anchorsFile: string;
  /** The identity service's own name, on its certificate. */
  serverName: string;
  /** Every Certify request, as received. */
  requests: CertifyRequestMessage[];
  /** The service's log records. */
  records: Array<Record<string, unknown>>;
  /**
   * Issues a token for `serviceAccount` in `namespace` and writes it to a new 0600 file;
   * returns the settings a proxy of that service account uses.
   */
  workload(serviceAccount: string, namespace?: string): IdentitySettings;
  /** Stops serving (connections are cut); `restart` serves again on the same port. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface IdentityServerOptions {
  /** Leaf certificate lifetime (24 h). */
  issuanceLifetimeMs?: number;
  /** How far back a leaf's notBefore goes (20 s). */
  clockSkewMs?: number;
  /**
   * Answers Certify instead of the real service (whose token check still runs first), to
   * hand out certificates a proxy must refuse.
   */
  answer?: (req: CertifyRequestMessage, ca: CertificateAuthority) => Promise<CertifyResponseMessage>;
}

/** A CA (a new anchor and issuer) with the given issuance settings. */
export async function testCa(opts: IdentityServerOptions = {}): Promise<CertificateAuthority> {
  const anchor = await createTrustAnchor();
  const issuer = await createIssuer(anchor);
  return CertificateAuthority.create({
    trustAnchorsPem: anchor.certPem,
    issuerCertPem: issuer.certPem,
    issuerKeyPem: issuer.keyPem,
    ...(opts.issuanceLifetimeMs !== undefined ? { issuanceLifetimeMs: opts.issuanceLifetimeMs } : {}),
    ...(opts.clockSkewMs !== undefined ? { clockSkewMs: opts.clockSkewMs } : {}),
  });
}

/** Starts the Identity service on 127.0.0.1 (a free port), over TLS, with a new CA. */
export async function startIdentityServer(opts: IdentityServerOptions = {}): Promise<IdentityServer> {
  const ca = await testCa(opts);
  const dir = makeTempDir('weft-identity-');
  const anchorsFile = join(dir, 'trust-anchors.pem');
  writeFileSync(anchorsFile, ca.trustAnchorsPem);
  const tokens = new Map<string, TokenIdentity>();
  const validator = {
    validate: async (token: Buffer): Promise<TokenIdentity> => {
      if (token.length === 0) throw new TokenError('missing', 'no token');
      const id = tokens.get(token.toString('utf8'));
      if (!id) throw new TokenError('unknown', 'the token is not known');
      return id;
    },
  };
  const { log, records } = captureLogger('info');
  const impl = identityService(ca, validator, { domain: DEFAULT_DOMAIN, log, metrics: new Registry() });
  const requests: CertifyRequestMessage[] = [];
  const recording: grpc.UntypedServiceImplementation = {
    certify: (
      call: grpc.ServerUnaryCall<CertifyRequestMessage, unknown>,
      cb: grpc.sendUnaryData<unknown>,
    ) => {
      requests.push(call.request);
      const { answer } = opts;
      if (!answer) {
        (impl.certify as grpc.handleUnaryCall<CertifyRequestMessage, unknown>)(call, cb);
        return;
      }
      validator.validate(call.request.token).then(
        () => answer(call.request, ca).then((res) => cb(null, res)),
        (err: Error) => cb({ code: grpc.status.UNAUTHENTICATED, details: err.message }),
      );
    },
  };
  const { credentials, serverName } = await identityServerCredentials(ca, DEFAULT_DOMAIN);
  let server: grpc.Server | undefined;
  let port = 0;
  const serve = async (): Promise<void> => {
    const s = new grpc.Server();
    s.addService(serviceConstructor('identity').service, recording);
    port = await new Promise<number>((resolve, reject) =>
      s.bindAsync(`127.0.0.1:${port}`, credentials, (err, p) => (err ? reject(err) : resolve(p))),
    );
    server = s;
  };
  await serve();
  let n = 0;
  const stop = async (): Promise<void> => {
    server?.forceShutdown();
    server = undefined;
  };
  return {
    addr: { host: '127.0.0.1', port },
    ca,
    dir,
    anchorsFile,
    serverName,
    requests,
    records,
    workload: (serviceAccount, namespace = 'default') => {
      const token = `test-token-${randomBytes(16).toString('hex')}`;
      tokens.set(token, { namespace, serviceAccount });
      const tokenFile = join(dir, `${namespace}-${serviceAccount}-${n++}.token`);
      writeFileSync(tokenFile, token, { mode: 0o600 });
      chmodSync(tokenFile, 0o600);
      return {
        name: identityName(serviceAccount, namespace),
        tokenFile,
        trustAnchorsFile: anchorsFile,
        addr: { host: '127.0.0.1', port },
        serverName,
      };
    },
    stop,
    restart: serve,
    close: stop,
  };
}

/** Every regular file under `dir` (recursively) whose contents mention a private key. */
export function filesWithPrivateKeys(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) out.push(...filesWithPrivateKeys(path));
    else if (st.isFile() && readFileSync(path).includes('PRIVATE KEY')) out.push(path);
  }
  return out;
}

/**
 * A stand-in for the control plane's Registry API (plaintext gRPC, as `weft up` serves it):
 * records every registration and answers with `lease(workload)`, so a test controls the
 * identity settings a proxy is given, or gives none, as an older control plane does.
 */
export interface FakeRegistry {
  /** host:port, for --destination. */
  addr: string;
  registrations: WorkloadMessage[];
  deregistrations: Array<{ namespace: string; pod: string }>;
  lease: (w: WorkloadMessage) => LeaseMessage;
  close(): Promise<void>;
}

export async function startFakeRegistry(lease: (w: WorkloadMessage) => LeaseMessage): Promise<FakeRegistry> {
  const server = new grpc.Server();
  const fake: FakeRegistry = {
    addr: '',
    registrations: [],
    deregistrations: [],
    lease,
    close: async () => {
      server.forceShutdown();
    },
  };
  server.addService(serviceConstructor('registry').service, {
    register: (
      call: grpc.ServerUnaryCall<WorkloadMessage, unknown>,
      cb: grpc.sendUnaryData<LeaseMessage>,
    ) => {
      fake.registrations.push(call.request);
      cb(null, fake.lease(call.request));
    },
    deregister: (
      call: grpc.ServerUnaryCall<{ namespace: string; pod: string }, unknown>,
      cb: grpc.sendUnaryData<{ existed: boolean }>,
    ) => {
      fake.deregistrations.push(call.request);
      cb(null, { existed: true });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  fake.addr = `127.0.0.1:${port}`;
  return fake;
}

/** A Lease's identity settings for `settings` (as the proxy's IdentitySettings). */
export function leaseIdentity(settings: IdentitySettings): NonNullable<LeaseMessage['identity']> {
  return {
    name: settings.name,
    tokenFile: settings.tokenFile,
    trustAnchorsFile: settings.trustAnchorsFile,
    addr: `${settings.addr.host}:${settings.addr.port}`,
    serverName: settings.serverName,
  };
}
