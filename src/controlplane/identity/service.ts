import { generateKeyPairSync } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { CertifyRequestMessage, CertifyResponseMessage } from '../../grpc/protos.js';
import { identityServiceName, parseIdentityName, type TrustDomain } from '../../identity/names.js';
import { CounterFamily, type CounterSeries, type Registry } from '../../metrics/registry.js';
import type { Logger } from '../../util/log.js';
import { type CertificateAuthority, CsrError } from './ca.js';
import { TokenError, type TokenValidator } from './tokens.js';

/** Bounds on a Certify request's fields. */
export const MAX_CSR_BYTES = 16 * 1024;
export const MAX_TOKEN_BYTES = 8 * 1024;
export const MAX_IDENTITY_CHARS = 253;
/** The Identity server's message limit: above every bounded field, so the handler sees (and counts) what is too large. */
export const IDENTITY_MAX_MESSAGE_BYTES = 64 * 1024;

/** The `result` label values of identity_certify_total. */
export const CERTIFY_RESULTS = [
  'ok',
  'too_large',
  'token_missing',
  'token_malformed',
  'token_unknown',
  'identity_invalid',
  'identity_mismatch',
  'csr_malformed',
  'csr_signature',
  'csr_key',
  'csr_names',
  'internal',
] as const;
export type CertifyResult = (typeof CERTIFY_RESULTS)[number];

class Refusal extends Error {
  constructor(
    readonly code: grpc.status,
    readonly result: CertifyResult,
    message: string,
  ) {
    super(message);
  }
}

export interface IdentityServiceOptions {
  readonly domain: TrustDomain;
  readonly log: Logger;
  /** Where identity_certify_total is registered. */
  readonly metrics: Registry;
}

/** identity_certify_total, one series per result, all present from the start. */
export function certifyCounters(metrics: Registry): Record<CertifyResult, CounterSeries> {
  const family = metrics.register(
    new CounterFamily(
      'identity_certify_total',
      'Identity.Certify calls, by result (ok, or why it was refused).',
    ),
  );
  return Object.fromEntries(CERTIFY_RESULTS.map((r) => [r, family.get([['result', r]])])) as Record<
    CertifyResult,
    CounterSeries
  >;
}

const quote = (s: string): string => JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}...` : s);

/**
 * The Identity service: Certify signs a proxy's CSR when its token proves the identity it
 * asks for. Every refusal is logged (never the token) and counted.
 */
export function identityService(
  ca: CertificateAuthority,
  tokens: TokenValidator,
  opts: IdentityServiceOptions,
): grpc.UntypedServiceImplementation {
  const counters = certifyCounters(opts.metrics);

  async function certify(req: CertifyRequestMessage): Promise<CertifyResponseMessage & { identity: string }> {
    const identity = req.identity ?? '';
    const token = req.token ?? Buffer.alloc(0);
    const csr = req.certificateSigningRequest ?? Buffer.alloc(0);
    if (identity.length > MAX_IDENTITY_CHARS) {
      throw new Refusal(
        grpc.status.INVALID_ARGUMENT,
        'too_large',
        `identity is ${identity.length} characters; at most ${MAX_IDENTITY_CHARS}`,
      );
    }
    if (token.length > MAX_TOKEN_BYTES) {
      throw new Refusal(
        grpc.status.INVALID_ARGUMENT,
        'too_large',
        `token is ${token.length} bytes; at most ${MAX_TOKEN_BYTES}`,
      );
    }
    if (csr.length > MAX_CSR_BYTES) {
      throw new Refusal(
        grpc.status.INVALID_ARGUMENT,
        'too_large',
        `certificate_signing_request is ${csr.length} bytes; at most ${MAX_CSR_BYTES}`,
      );
    }
    let proven: { namespace: string; serviceAccount: string };
    try {
      proven = await tokens.validate(token);
    } catch (err) {
      if (err instanceof TokenError) {
        throw new Refusal(
          grpc.status.UNAUTHENTICATED,
          `token_${err.reason}`,
          `token refused: ${err.message}`,
        );
      }
      throw err;
    }
    const asked = parseIdentityName(identity, opts.domain);
    if (!asked) {
      throw new Refusal(
        grpc.status.INVALID_ARGUMENT,
        'identity_invalid',
        `identity ${quote(identity)} is not a name of trust domain ${opts.domain.trustDomain} (<service-account>.<namespace>.serviceaccount.identity.${opts.domain.controlPlaneNamespace}.${opts.domain.trustDomain})`,
      );
    }
    if (asked.namespace !== proven.namespace || asked.serviceAccount !== proven.serviceAccount) {
      const provenName = identity.replace(
        `${asked.serviceAccount}.${asked.namespace}.`,
        `${proven.serviceAccount}.${proven.namespace}.`,
      );
      throw new Refusal(
        grpc.status.PERMISSION_DENIED,
        'identity_mismatch',
        `the token proves identity ${provenName}, not ${identity}`,
      );
    }
    try {
      const signed = await ca.sign(csr, identity);
      return {
        identity,
        leafCertificate: signed.leafDer,
        intermediateCertificates: signed.intermediatesDer,
        validUntilUnixMs: signed.validUntil.getTime(),
      };
    } catch (err) {
      if (err instanceof CsrError) throw new Refusal(grpc.status.INVALID_ARGUMENT, err.reason, err.message);
      throw err;
    }
  }

  return {
    certify(
      call: grpc.ServerUnaryCall<CertifyRequestMessage, CertifyResponseMessage>,
      cb: grpc.sendUnaryData<CertifyResponseMessage>,
    ) {
      certify(call.request).then(
        ({ identity, ...res }) => {
          counters.ok.inc();
          opts.log.info(
            { identity, validUntil: new Date(res.validUntilUnixMs).toISOString(), peer: call.getPeer() },
            'certificate issued',
          );
          cb(null, res);
        },
        (err: unknown) => {
          const r =
            err instanceof Refusal
              ? err
              : new Refusal(
                  grpc.status.INTERNAL,
                  'internal',
                  `the identity service failed: ${(err as Error).message}`,
                );
          counters[r.result].inc();
          const identity =
            typeof call.request.identity === 'string' ? call.request.identity.slice(0, 260) : '';
          const fields = { identity, reason: r.result, details: r.message, peer: call.getPeer() };
          if (r.code === grpc.status.INTERNAL) opts.log.error(fields, 'certify failed');
          else opts.log.warn(fields, 'certify refused');
          cb({ code: r.code, details: r.message });
        },
      );
    },
  };
}

/**
 * The Identity server's own TLS credentials: a leaf for the identity service's name, valid
 * until the issuer expires, served with the issuer chain.
 */
export async function identityServerCredentials(
  ca: CertificateAuthority,
  domain: TrustDomain,
): Promise<{ credentials: grpc.ServerCredentials; serverName: string; validUntil: Date }> {
  const serverName = identityServiceName(domain);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const issued = await ca.issue(serverName, publicKey, { notAfter: ca.issuerNotAfter });
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const credentials = grpc.ServerCredentials.createSsl(
    null,
    [{ private_key: Buffer.from(key), cert_chain: Buffer.from(issued.chainPem) }],
    false,
  );
  return { credentials, serverName, validUntil: issued.validUntil };
}
