import { join } from 'node:path';

/**
 * Where the local platform keeps the CA's files, in `<state-dir>/identity/`. Light (no X.509
 * library): the control plane writes them, the CLI reads them.
 */
export interface IdentityStatePaths {
  readonly dir: string;
  readonly trustAnchors: string;
  readonly issuerCertificate: string;
  readonly issuerKey: string;
}

export function identityStatePaths(stateDir: string): IdentityStatePaths {
  const dir = join(stateDir, 'identity');
  return {
    dir,
    trustAnchors: join(dir, 'trust-anchors.pem'),
    issuerCertificate: join(dir, 'issuer.crt'),
    issuerKey: join(dir, 'issuer.key'),
  };
}
