/**
 * The CA's credentials on the local platform: generated on first start, or the user's own
 * files, validated, and kept in `<state>/identity/`:
 *
 * - `trust-anchors.pem`: the anchors bundle (public; proxies and `weft check` read it),
 * - `issuer.crt`: the issuer certificate (public),
 * - `issuer.key`: the issuer's key (0600), only when weft generated it. A user's key is
 *   never copied: a restart then needs the files again.
 *
 * When weft generates both the anchor and the issuer, the anchor's key is discarded once the
 * issuer is signed: a later issuer needs a user-made one, or a fresh anchor.
 */
import { existsSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { writeFileAtomic } from '../../catalog/local/store.js';
import { type IdentityStatePaths, identityStatePaths } from '../../identity/state-paths.js';
import {
  CertificateAuthority,
  CredentialError,
  type CredentialPart,
  createIssuer,
  createTrustAnchor,
} from './ca.js';

/** A refusal that names the file and what is wrong with it. */
export class IdentityConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdentityConfigError';
  }
}

/** The user's own credentials, as given by the --identity-* flags. */
export interface IdentityFiles {
  readonly trustAnchorsFile: string;
  readonly issuerCertificateFile: string;
  readonly issuerKeyFile: string;
}

export interface CaSettings {
  readonly trustDomain: string;
  readonly issuanceLifetimeMs: number;
  readonly clockSkewMs: number;
}

export { type IdentityStatePaths, identityStatePaths };

/** Which flags a partial set lacks (issuer certificate and key together; anchors with them), or []. */
export function missingIdentityFlags(given: {
  trustAnchorsFile?: string | undefined;
  issuerCertificateFile?: string | undefined;
  issuerKeyFile?: string | undefined;
}): string[] {
  const flags: Array<[keyof typeof given, string]> = [
    ['trustAnchorsFile', '--identity-trust-anchors-file'],
    ['issuerCertificateFile', '--identity-issuer-certificate-file'],
    ['issuerKeyFile', '--identity-issuer-key-file'],
  ];
  const present = flags.filter(([k]) => given[k] !== undefined);
  if (present.length === 0) return [];
  return flags.filter(([k]) => given[k] === undefined).map(([, flag]) => flag);
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT'
        ? 'no such file'
        : e.code === 'EACCES'
          ? 'permission denied'
          : e.code === 'EISDIR'
            ? 'is a directory'
            : e.message;
    throw new IdentityConfigError(`${file}: cannot read the ${what} (${why})`);
  }
}

async function build(
  pems: { trustAnchorsPem: string; issuerCertPem: string; issuerKeyPem: string },
  files: Record<CredentialPart, string>,
  settings: CaSettings,
  hint = '',
): Promise<CertificateAuthority> {
  try {
    return await CertificateAuthority.create({
      ...pems,
      trustDomain: settings.trustDomain,
      issuanceLifetimeMs: settings.issuanceLifetimeMs,
      clockSkewMs: settings.clockSkewMs,
    });
  } catch (err) {
    if (err instanceof CredentialError)
      throw new IdentityConfigError(`${files[err.part]}: ${err.problem}${hint}`);
    throw err;
  }
}

/**
 * Reads and validates the user's files; writes nothing. A refusal names the file and the
 * problem.
 */
export async function loadUserCredentials(
  files: IdentityFiles,
  settings: CaSettings,
): Promise<CertificateAuthority> {
  const pems = {
    trustAnchorsPem: readText(files.trustAnchorsFile, 'trust anchors'),
    issuerCertPem: readText(files.issuerCertificateFile, 'issuer certificate'),
    issuerKeyPem: readText(files.issuerKeyFile, 'issuer key'),
  };
  return build(
    pems,
    {
      'trust-anchors': files.trustAnchorsFile,
      'issuer-certificate': files.issuerCertificateFile,
      'issuer-key': files.issuerKeyFile,
    },
    settings,
  );
}

function ensureDir(paths: IdentityStatePaths): void {
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
}

/**
 * Records a CA made from the user's files in the state dir: the two public files are
 * rewritten, and a key weft generated earlier is deleted (it no longer matches the issuer).
 */
export function persistUserCredentials(stateDir: string, ca: CertificateAuthority): IdentityStatePaths {
  const paths = identityStatePaths(stateDir);
  ensureDir(paths);
  try {
    unlinkSync(paths.issuerKey);
  } catch {
    // There was none.
  }
  writeFileAtomic(paths.trustAnchors, ca.trustAnchorsPem, 0o644);
  writeFileAtomic(paths.issuerCertificate, ca.issuerChainPem, 0o644);
  return paths;
}

/**
 * The CA from the state dir: validated as a user's files are; on first start (no
 * `issuer.crt`), a new trust anchor and issuer, written before they are used.
 */
export async function loadOrCreateStateCredentials(
  stateDir: string,
  settings: CaSettings,
): Promise<{ ca: CertificateAuthority; paths: IdentityStatePaths; generated: boolean }> {
  const paths = identityStatePaths(stateDir);
  const hasCert = existsSync(paths.issuerCertificate);
  const hasAnchors = existsSync(paths.trustAnchors);
  const hasKey = existsSync(paths.issuerKey);
  const flags =
    '--identity-trust-anchors-file, --identity-issuer-certificate-file and --identity-issuer-key-file';
  if (!hasCert) {
    if (hasAnchors) {
      throw new IdentityConfigError(
        `${paths.dir}: holds trust-anchors.pem but no issuer.crt; pass ${flags}, or move ${paths.dir} aside to generate a new trust anchor (every proxy's certificate then changes)`,
      );
    }
    const anchor = await createTrustAnchor({ trustDomain: settings.trustDomain });
    const issuer = await createIssuer(anchor, { trustDomain: settings.trustDomain });
    const ca = await build(
      { trustAnchorsPem: anchor.certPem, issuerCertPem: issuer.certPem, issuerKeyPem: issuer.keyPem },
      { 'trust-anchors': 'generated', 'issuer-certificate': 'generated', 'issuer-key': 'generated' },
      settings,
    );
    ensureDir(paths);
    // issuer.crt last: its presence marks a complete state.
    writeFileAtomic(paths.issuerKey, issuer.keyPem, 0o600);
    writeFileAtomic(paths.trustAnchors, anchor.certPem, 0o644);
    writeFileAtomic(paths.issuerCertificate, issuer.certPem, 0o644);
    return { ca, paths, generated: true };
  }
  if (!hasKey) {
    throw new IdentityConfigError(
      `${paths.issuerCertificate}: the last run used your own issuer, whose key weft does not keep; pass ${flags} again`,
    );
  }
  const pems = {
    trustAnchorsPem: readText(paths.trustAnchors, 'trust anchors'),
    issuerCertPem: readText(paths.issuerCertificate, 'issuer certificate'),
    issuerKeyPem: readText(paths.issuerKey, 'issuer key'),
  };
  const ca = await build(
    pems,
    {
      'trust-anchors': paths.trustAnchors,
      'issuer-certificate': paths.issuerCertificate,
      'issuer-key': paths.issuerKey,
    },
    settings,
    `; pass ${flags} with a valid issuer, or move ${paths.dir} aside to generate a new trust anchor (every proxy's certificate then changes)`,
  );
  return { ca, paths, generated: false };
}
