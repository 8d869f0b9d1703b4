/**
 * Identity names, shared by the control plane, the proxy and the CLI. A workload's
 * identity is its service account: `<sa>.<ns>.serviceaccount.identity.<cp-ns>.<trust-domain>`,
 * for example `web.emojivoto.serviceaccount.identity.weft.cluster.local`. It is the DNS
 * name (SAN) on the proxy's certificate and the TLS server name peers ask for.
 */

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
/** The namespace the control plane runs in; part of every identity name. */
export const CONTROL_PLANE_NAMESPACE = 'weft';
/** The service account of the identity service itself, whose name is on its TLS certificate. */
export const IDENTITY_SERVICE_ACCOUNT = 'weft-identity';
/** The namespace of the viz component (metrics, tap), as Linkerd's `linkerd-viz`. */
export const VIZ_NAMESPACE = 'weft-viz';
/** The service account of viz's tap client: the one identity proxies' tap servers answer. */
export const TAP_SERVICE_ACCOUNT = 'tap';

export interface TrustDomain {
  readonly trustDomain: string;
  readonly controlPlaneNamespace: string;
}

export const DEFAULT_DOMAIN: TrustDomain = {
  trustDomain: DEFAULT_TRUST_DOMAIN,
  controlPlaneNamespace: CONTROL_PLANE_NAMESPACE,
};

export function identityName(
  serviceAccount: string,
  namespace: string,
  domain: TrustDomain = DEFAULT_DOMAIN,
): string {
  return `${serviceAccount}.${namespace}.serviceaccount.identity.${domain.controlPlaneNamespace}.${domain.trustDomain}`;
}

/** The identity service's own name, which proxies check on its certificate. */
export function identityServiceName(domain: TrustDomain = DEFAULT_DOMAIN): string {
  return identityName(IDENTITY_SERVICE_ACCOUNT, domain.controlPlaneNamespace, domain);
}

/**
 * The identity proxies let observe their traffic (tap): viz's,
 * `tap.weft-viz.serviceaccount.identity.weft.cluster.local` in the default domain.
 */
export function tapIdentityName(domain: TrustDomain = DEFAULT_DOMAIN): string {
  return identityName(TAP_SERVICE_ACCOUNT, VIZ_NAMESPACE, domain);
}

/** Splits an identity name of the given domain into its service account and namespace. */
export function parseIdentityName(
  name: string,
  domain: TrustDomain = DEFAULT_DOMAIN,
): { serviceAccount: string; namespace: string } | undefined {
  const suffix = `.serviceaccount.identity.${domain.controlPlaneNamespace}.${domain.trustDomain}`;
  if (!name.endsWith(suffix)) return undefined;
  const parts = name.slice(0, -suffix.length).split('.');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') return undefined;
  return { serviceAccount: parts[0] as string, namespace: parts[1] as string };
}
