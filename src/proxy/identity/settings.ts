import type { IdentityConfigMessage } from '../../grpc/protos.js';
import { type HostPort, parseHostPort } from '../../util/addr.js';

/** Where and as whom this proxy asks the Identity API for its certificate. */
export interface IdentitySettings {
  /** The identity to ask for: the DNS name on the certificate. */
  readonly name: string;
  /** Read before each request: the token may be replaced. */
  readonly tokenFile: string;
  /** PEM bundle: verifies the Identity API's certificate and peers' certificates. */
  readonly trustAnchorsFile: string;
  readonly addr: HostPort;
  /** The Identity API's own identity, checked on its certificate. */
  readonly serverName: string;
}

/** The flag that sets each field, to name in errors. */
const FLAGS: Record<keyof IdentitySettings, string> = {
  name: '--identity-name',
  tokenFile: '--identity-token-file',
  trustAnchorsFile: '--identity-trust-anchors-file',
  addr: '--identity-addr',
  serverName: '--identity-server-name',
};

/**
 * Combines the control plane's identity settings (from the Lease) with the proxy's flags,
 * a flag winning over the Lease field by field. Undefined when neither gives any: the
 * proxy has no identity (an older control plane). Throws, naming the flags, when some
 * fields are given and others missing, or the Lease's address is not host:port.
 */
export function identitySettings(
  lease: IdentityConfigMessage | null | undefined,
  overrides: Partial<IdentitySettings>,
): IdentitySettings | undefined {
  const fromLease: Partial<Record<keyof IdentitySettings, unknown>> = {};
  if (lease) {
    if (lease.name) fromLease.name = lease.name;
    if (lease.tokenFile) fromLease.tokenFile = lease.tokenFile;
    if (lease.trustAnchorsFile) fromLease.trustAnchorsFile = lease.trustAnchorsFile;
    if (lease.serverName) fromLease.serverName = lease.serverName;
    if (lease.addr && !overrides.addr) {
      fromLease.addr = parseHostPort(lease.addr, "the control plane's identity address");
    }
  }
  const merged = { ...fromLease, ...overrides } as Partial<IdentitySettings>;
  const fields = Object.keys(FLAGS) as (keyof IdentitySettings)[];
  const missing = fields.filter((f) => merged[f] === undefined);
  if (missing.length === fields.length) return undefined;
  if (missing.length > 0) {
    throw new Error(
      `incomplete identity settings: neither the control plane nor the flags give ${missing.map((f) => FLAGS[f]).join(', ')}`,
    );
  }
  return merged as IdentitySettings;
}
