/**
 * How the Identity API learns who is asking: a token proves a workload's service account.
 * The local platform issues one token per registered workload (`src/catalog/local/tokens.ts`);
 * on Kubernetes a TokenReview will check service account tokens.
 */

/** The service account a token proves. */
export interface TokenIdentity {
  readonly namespace: string;
  readonly serviceAccount: string;
}

export type TokenErrorReason = 'missing' | 'unknown' | 'malformed';

/**
 * A token that proves nothing: `missing` (empty), `unknown` (not issued, revoked or
 * expired), `malformed` (not a token of this platform's format). The message never
 * contains the token.
 */
export class TokenError extends Error {
  constructor(
    readonly reason: TokenErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

export interface TokenValidator {
  /** Resolves with the service account the token proves, or rejects with a TokenError. */
  validate(token: Buffer): Promise<TokenIdentity>;
}
