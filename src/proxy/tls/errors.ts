/**
 * Why a TLS handshake between proxies failed, as a metric label and a sentence for the
 * log and the `weft-proxy-error` header. Nothing here ever falls back to plaintext.
 */
export type TlsFailureReason =
  | 'expired'
  | 'not_yet_valid'
  | 'untrusted'
  | 'bad_signature'
  | 'identity_mismatch'
  | 'no_identity'
  | 'timeout'
  | 'handshake';

/** A failed handshake: raised by the connector, or classified from OpenSSL's error. */
export class MeshTlsError extends Error {
  readonly code = 'EMESHTLS';
  constructor(
    readonly reason: TlsFailureReason,
    message: string,
  ) {
    super(message);
    this.name = 'MeshTlsError';
  }
}

/** OpenSSL's verification codes, as Node reports them, by the reason they stand for. */
const VERIFY_REASONS: Record<string, TlsFailureReason> = {
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'not_yet_valid',
  UNABLE_TO_GET_ISSUER_CERT: 'untrusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'untrusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'untrusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'untrusted',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'untrusted',
  CERT_UNTRUSTED: 'untrusted',
  INVALID_CA: 'untrusted',
  CERT_SIGNATURE_FAILURE: 'bad_signature',
  CERT_REJECTED: 'untrusted',
};

const DESCRIPTIONS: Record<TlsFailureReason, string> = {
  expired: 'its certificate has expired',
  not_yet_valid: 'its certificate is not valid yet',
  untrusted: 'its certificate does not chain to the trust anchors',
  bad_signature: "its certificate's signature does not verify (tampered?)",
  identity_mismatch: 'it holds a different identity',
  no_identity: 'its certificate names no identity',
  timeout: 'the handshake timed out',
  handshake: 'the handshake failed',
};

/** Classifies a certificate verification code (tls.TLSSocket's authorizationError, or an error's code). */
export function verifyReason(code: string | undefined): TlsFailureReason | undefined {
  return code === undefined ? undefined : VERIFY_REASONS[code];
}

/** A handshake error from Node, as a MeshTlsError naming the peer. */
export function classifyTlsError(err: unknown, peer: string): MeshTlsError {
  if (err instanceof MeshTlsError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const reason = verifyReason(typeof code === 'string' ? code : undefined) ?? 'handshake';
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER') {
    return new MeshTlsError(
      reason,
      `TLS with ${peer} refused: it did not answer with TLS for the identity expected`,
    );
  }
  const detail =
    reason === 'handshake' ? `: ${typeof code === 'string' ? code : (err as Error)?.message}` : '';
  return new MeshTlsError(reason, `TLS with ${peer} refused: ${DESCRIPTIONS[reason]}${detail}`);
}
