import { randomBytes } from 'node:crypto';
import { dns1123LabelError, labelKeyError, labelValueError, portNameError } from '../catalog/names.js';
import { type HostPort, parseHostPort, parsePort } from '../util/addr.js';
import { parseDuration } from '../util/duration.js';
import { DEFAULT_OPAQUE_PORTS } from '../util/port-specs.js';
import type { H2Timeouts } from './http/h2-liveness.js';
import type { IdentitySettings } from './identity/settings.js';

export interface ProxyConfig {
  readonly inboundAddr: HostPort;
  readonly outboundAddr: HostPort;
  readonly adminAddr: HostPort;
  /** The tap server (mutual TLS, viz's tap identity only); served only by a proxy with an identity. */
  readonly tapAddr: HostPort;
  /**
   * The one identity the tap server answers; unset: viz's tap identity in this proxy's own
   * trust domain (`tap.weft-viz.serviceaccount.identity.weft.<trust domain>`).
   */
  readonly tapSvcName?: string;
  /** The local application the inbound side forwards to. */
  readonly inboundForward: HostPort;
  readonly opaquePorts: ReadonlySet<number>;
  readonly outboundConnectTimeoutMs: number;
  readonly inboundConnectTimeoutMs: number;
  /** Outbound: the mutual TLS handshake with a meshed endpoint, once TCP has connected. */
  readonly outboundTlsHandshakeTimeoutMs: number;
  /**
   * Outbound: how long a request whose route sets no timeout waits for its response's
   * headers (0: for ever). The body may then take as long as it takes.
   */
  readonly responseHeadersTimeoutMs: number;
  readonly detectTimeoutMs: number;
  /** Idle client connections (HTTP/1 keep-alive, HTTP/2) and HTTP/2 liveness and stream idle bounds. */
  readonly idleTimeouts: H2Timeouts;
  readonly shutdownGracePeriodMs: number;
  readonly enableShutdownEndpoint: boolean;
  /**
   * Connections come redirected by proxy-init (weft init): each goes where it was going
   * (SO_ORIGINAL_DST); inbound to that port on loopback.
   */
  readonly transparent: boolean;
  /** Inbound: how long a client's mutual TLS handshake may take once its ClientHello is in. */
  readonly inboundTlsHandshakeTimeoutMs: number;
  /**
   * Inbound: the only client identities served, each proven by a client certificate over
   * mutual TLS; any other client (plaintext, TLS without a certificate, another identity)
   * is refused. Unset: every client is served.
   */
  readonly inboundAuthorizedIdentities?: ReadonlySet<string>;
  /** The control plane's Destination API; absent: names resolve by DNS only. */
  readonly destination?: HostPort;
  /** The file holding the credential the Registry takes this proxy's registration with. */
  readonly controlPlaneTokenFile?: string;
  /** The workload this proxy fronts, registered with the control plane when set. */
  readonly identity: WorkloadIdentity;
  /**
   * How to get this proxy's certificate, as given by flags: each field set overrides the
   * control plane's answer at registration (the Lease). Empty without a workload.
   */
  readonly identityOverrides: Partial<IdentitySettings>;
}

export interface WorkloadIdentity {
  /** Empty: the proxy registers nothing. */
  readonly workload: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly pod: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The application's named ports, which Services' targetPorts may name. */
  readonly namedPorts: Readonly<Record<string, number>>;
  /**
   * Where meshed peers reach this workload: by default the inbound listener. Port 0 (in
   * transparent mode): the workload owns the address, as a pod does, and peers dial each
   * Service's targetPort on it.
   */
  readonly advertise: HostPort;
}

/** The proxy's settings: flag name, environment variable, default and meaning. */
export const PROXY_SETTINGS = {
  inboundAddr: [
    '--inbound-addr',
    'WEFT_PROXY_INBOUND_ADDR',
    '0.0.0.0:4143',
    'inbound listener (meshed traffic to this workload)',
  ],
  outboundAddr: [
    '--outbound-addr',
    'WEFT_PROXY_OUTBOUND_ADDR',
    '127.0.0.1:4140',
    "outbound listener (this workload's traffic out)",
  ],
  adminAddr: [
    '--admin-addr',
    'WEFT_PROXY_ADMIN_ADDR',
    '127.0.0.1:4191',
    'admin listener (/live, /ready, /metrics, /shutdown)',
  ],
  tapAddr: [
    '--tap-addr',
    'WEFT_PROXY_TAP_ADDR',
    '0.0.0.0:4190',
    'tap listener (live requests for viz, over mutual TLS; only with an identity)',
  ],
  tapSvcName: [
    '--tap-svc-name',
    'WEFT_PROXY_TAP_SVC_NAME',
    '',
    "the identity allowed to tap this proxy (default: viz's, tap.weft-viz.serviceaccount.identity.<this proxy's trust domain>)",
  ],
  inboundForward: [
    '--inbound-forward',
    'WEFT_PROXY_INBOUND_FORWARD',
    '127.0.0.1:8080',
    'the local application inbound traffic goes to',
  ],
  opaquePorts: [
    '--opaque-ports',
    'WEFT_PROXY_OPAQUE_PORTS',
    DEFAULT_OPAQUE_PORTS.join(','),
    'ports proxied as opaque TCP without protocol detection',
  ],
  outboundConnectTimeout: [
    '--outbound-connect-timeout',
    'WEFT_PROXY_OUTBOUND_CONNECT_TIMEOUT',
    '1s',
    'TCP connect timeout to outbound targets',
  ],
  inboundConnectTimeout: [
    '--inbound-connect-timeout',
    'WEFT_PROXY_INBOUND_CONNECT_TIMEOUT',
    '100ms',
    'TCP connect timeout to the local application',
  ],
  outboundTlsHandshakeTimeout: [
    '--outbound-tls-handshake-timeout',
    'WEFT_PROXY_OUTBOUND_TLS_HANDSHAKE_TIMEOUT',
    '3s',
    'mutual TLS handshake timeout to meshed endpoints, after TCP connects',
  ],
  responseHeadersTimeout: [
    '--response-headers-timeout',
    'WEFT_PROXY_RESPONSE_HEADERS_TIMEOUT',
    '10s',
    "outbound: how long a request without a route timeout waits for its response's headers (0: no limit); an endpoint that lets it pass is taken out like one that refused",
  ],
  detectTimeout: [
    '--detect-timeout',
    'WEFT_PROXY_DETECT_TIMEOUT',
    '10s',
    "how long protocol detection waits for a client's first bytes",
  ],
  idleTimeout: [
    '--idle-timeout',
    'WEFT_PROXY_IDLE_TIMEOUT',
    '60s',
    'how long an idle connection (HTTP/1 keep-alive, HTTP/2 without streams) is kept open, either side',
  ],
  http2LivenessTimeout: [
    '--http2-liveness-timeout',
    'WEFT_PROXY_HTTP2_LIVENESS_TIMEOUT',
    '10s',
    'an HTTP/2 connection silent this long must acknowledge a SETTINGS frame within as long again, or is closed',
  ],
  streamIdleTimeout: [
    '--stream-idle-timeout',
    'WEFT_PROXY_STREAM_IDLE_TIMEOUT',
    '5m',
    'an HTTP/2 stream with no frames either way for this long is reset',
  ],
  shutdownGracePeriod: [
    '--shutdown-grace-period',
    'WEFT_PROXY_SHUTDOWN_GRACE_PERIOD',
    '30s',
    'how long in-flight work may take to finish on shutdown',
  ],
  enableShutdownEndpoint: [
    '--enable-shutdown-endpoint',
    'WEFT_PROXY_SHUTDOWN_ENDPOINT_ENABLED',
    'false',
    'serve POST /shutdown on the admin listener',
  ],
  transparent: [
    '--transparent',
    'WEFT_PROXY_TRANSPARENT',
    'false',
    'take connections redirected by weft init: route each by its original destination (SO_ORIGINAL_DST)',
  ],
  inboundTlsHandshakeTimeout: [
    '--inbound-tls-handshake-timeout',
    'WEFT_PROXY_INBOUND_TLS_HANDSHAKE_TIMEOUT',
    '10s',
    "how long a client's mutual TLS handshake to the inbound side may take",
  ],
  inboundAuthorizedIdentities: [
    '--inbound-authorized-identities',
    'WEFT_PROXY_INBOUND_AUTHORIZED_IDENTITIES',
    '',
    'the only client identities (proven over mutual TLS) the inbound side serves, comma-separated; empty: every client, plaintext included',
  ],
  destination: [
    '--destination',
    'WEFT_PROXY_DESTINATION_ADDR',
    '',
    'the control plane (weft up) to discover services from, e.g. 127.0.0.1:8086; empty: DNS only',
  ],
  controlPlaneTokenFile: [
    '--control-plane-token-file',
    'WEFT_PROXY_CONTROL_PLANE_TOKEN_FILE',
    '',
    "the credential this proxy registers its workload with: the one weft up issued for its pod, or (by hand) weft up's <state-dir>/owner.token",
  ],
  workload: [
    '--workload',
    'WEFT_PROXY_WORKLOAD',
    '',
    'the workload (deployment) this proxy fronts; set, it registers with the control plane',
  ],
  namespace: ['--namespace', 'WEFT_PROXY_NAMESPACE', 'default', "the workload's namespace"],
  serviceAccount: [
    '--service-account',
    'WEFT_PROXY_SERVICE_ACCOUNT',
    'default',
    "the workload's service account",
  ],
  pod: [
    '--pod',
    'WEFT_PROXY_POD',
    '',
    "this instance's name (default: the workload name and a random suffix)",
  ],
  label: [
    '--label',
    'WEFT_PROXY_LABELS',
    '',
    "the workload's labels, k=v (repeat the flag, or comma-separate)",
  ],
  namedPort: [
    '--named-port',
    'WEFT_PROXY_NAMED_PORTS',
    '',
    "the application's named ports, name=port, which Services' targetPorts may name (repeat the flag, or comma-separate)",
  ],
  advertiseAddr: [
    '--advertise-addr',
    'WEFT_PROXY_ADVERTISE_ADDR',
    '',
    "where meshed peers reach this workload (default: the inbound listener, 0.0.0.0 as 127.0.0.1); with --transparent, an address alone (the pod's: peers dial the Service's targetPort on it)",
  ],
  identityName: [
    '--identity-name',
    'WEFT_PROXY_IDENTITY_NAME',
    '',
    "the identity to ask a certificate for (default: the control plane's, at registration)",
  ],
  identityAddr: [
    '--identity-addr',
    'WEFT_PROXY_IDENTITY_ADDR',
    '',
    "the Identity API, host:port (default: the control plane's, at registration)",
  ],
  identityTrustAnchorsFile: [
    '--identity-trust-anchors-file',
    'WEFT_PROXY_IDENTITY_TRUST_ANCHORS_FILE',
    '',
    "PEM trust anchors for the Identity API and peers (default: the control plane's, at registration)",
  ],
  identityTokenFile: [
    '--identity-token-file',
    'WEFT_PROXY_IDENTITY_TOKEN_FILE',
    '',
    "the token proving this workload's service account (default: the control plane's, at registration)",
  ],
  identityServerName: [
    '--identity-server-name',
    'WEFT_PROXY_IDENTITY_SERVER_NAME',
    '',
    "the Identity API's identity, checked on its certificate (default: the control plane's, at registration)",
  ],
} as const;

export type SettingName = keyof typeof PROXY_SETTINGS;
export type RawSettings = Partial<Record<SettingName, string | boolean | string[]>>;

/** Where a value came from, to name it in errors: the flag, or the environment variable. */
function origin(name: SettingName, fromEnv: boolean): string {
  const [flag, env] = PROXY_SETTINGS[name];
  return fromEnv ? env : flag;
}

export function parsePortList(text: string, what: string): Set<number> {
  const ports = new Set<number>();
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const range = /^(\d+)-(\d+)$/.exec(item);
    if (range) {
      const lo = parsePort(range[1] as string, what);
      const hi = parsePort(range[2] as string, what);
      if (lo > hi) throw new Error(`${what}: range "${item}" is backwards`);
      for (let p = lo; p <= hi; p++) ports.add(p);
    } else {
      ports.add(parsePort(item, what));
    }
  }
  return ports;
}

/**
 * Splits `k=v,k2=v2` into its pairs, skipping blanks; an item without a key before `=` is
 * refused as not being `noun` (written `form`).
 */
function splitPairs(text: string, what: string, noun: string, form: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new Error(`${what}: "${item}" is not ${noun} (expected ${form})`);
    pairs.push([item.slice(0, eq), item.slice(eq + 1)]);
  }
  return pairs;
}

/** Parses `k=v,k2=v2` into labels, each checked as Kubernetes checks label keys and values. */
export function parseLabels(text: string, what: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, value] of splitPairs(text, what, 'a label', 'key=value')) {
    const problem = labelKeyError(key) ?? labelValueError(value);
    if (problem) throw new Error(`${what}: ${problem}`);
    labels[key] = value;
  }
  return labels;
}

/** Parses `name=port,...` into named ports, each name checked as Kubernetes checks port names. */
export function parseNamedPorts(text: string, what: string): Record<string, number> {
  const ports: Record<string, number> = {};
  for (const [name, port] of splitPairs(text, what, 'a named port', 'name=port')) {
    const problem = portNameError(name);
    if (problem) throw new Error(`${what}: port name "${name}" ${problem}`);
    ports[name] = parsePort(port, `${what} ${name}`);
  }
  return ports;
}

function parseBool(text: string, what: string): boolean {
  const t = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(t)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(t)) return false;
  throw new Error(`${what}: "${text}" is not true or false`);
}

/**
 * Resolves the proxy's configuration: a flag wins over its environment variable, which
 * wins over the default. Every value is validated, and an error names its flag or variable.
 */
export function resolveProxyConfig(flags: RawSettings, env: NodeJS.ProcessEnv = process.env): ProxyConfig {
  const get = (name: SettingName): [string, string] => {
    const flag = flags[name];
    if (flag !== undefined) return [Array.isArray(flag) ? flag.join(',') : String(flag), origin(name, false)];
    const fromEnv = env[PROXY_SETTINGS[name][1]];
    if (fromEnv !== undefined && fromEnv !== '') return [fromEnv, origin(name, true)];
    return [PROXY_SETTINGS[name][2], origin(name, false)];
  };
  const addr = (name: SettingName): HostPort => parseHostPort(...get(name));
  const duration = (name: SettingName): number => parseDuration(...get(name));
  const positive = (name: SettingName): number => {
    const ms = duration(name);
    if (ms <= 0) throw new Error(`${get(name)[1]}: must be greater than zero`);
    return ms;
  };
  const nonZeroPort = (name: SettingName): HostPort => {
    const a = addr(name);
    if (a.port === 0) throw new Error(`${get(name)[1]}: port 0 is not an address peers can reach`);
    return a;
  };
  const inboundAddr = addr('inboundAddr');
  const [destination] = get('destination');
  const [workload, workloadOrigin] = get('workload');
  const name = (setting: SettingName): string => {
    const [value, from] = get(setting);
    const problem = dns1123LabelError(value);
    if (problem) throw new Error(`${from}: "${value}" ${problem}`);
    return value;
  };
  if (workload !== '') name('workload');
  if (workload !== '' && destination === '') {
    throw new Error(`${workloadOrigin}: registering a workload needs the control plane (--destination)`);
  }
  const [controlPlaneTokenFile, tokenFileOrigin] = get('controlPlaneTokenFile');
  if (workload !== '' && controlPlaneTokenFile === '') {
    throw new Error(
      `${workloadOrigin}: registering a workload needs a credential the control plane issued (--control-plane-token-file: weft up's <state-dir>/owner.token by hand)`,
    );
  }
  if (workload === '' && controlPlaneTokenFile !== '') {
    throw new Error(`${tokenFileOrigin}: only a proxy that registers a workload (--workload) presents one`);
  }
  const identityOverrides = resolveIdentityOverrides(get, workload !== '');
  const [tapSvcName, tapSvcNameOrigin] = get('tapSvcName');
  if (tapSvcName !== '' && !DNS_NAME.test(tapSvcName)) {
    throw new Error(`${tapSvcNameOrigin}: "${tapSvcName.slice(0, 80)}" is not a DNS name`);
  }
  const [pod] = get('pod');
  const [advertise, advertiseOrigin] = get('advertiseAddr');
  const transparent = parseBool(...get('transparent'));
  // A pod's address with port 0: the pod owns it (transparent mode only).
  const advertised = (): HostPort =>
    transparent ? parseHostPort(advertise, advertiseOrigin, 0) : nonZeroPort('advertiseAddr');
  return {
    inboundAddr,
    outboundAddr: addr('outboundAddr'),
    adminAddr: addr('adminAddr'),
    tapAddr: addr('tapAddr'),
    ...(tapSvcName !== '' ? { tapSvcName } : {}),
    inboundForward: addr('inboundForward'),
    opaquePorts: parsePortList(...get('opaquePorts')),
    outboundConnectTimeoutMs: positive('outboundConnectTimeout'),
    inboundConnectTimeoutMs: positive('inboundConnectTimeout'),
    outboundTlsHandshakeTimeoutMs: positive('outboundTlsHandshakeTimeout'),
    responseHeadersTimeoutMs: duration('responseHeadersTimeout'),
    detectTimeoutMs: positive('detectTimeout'),
    idleTimeouts: {
      idleTimeoutMs: positive('idleTimeout'),
      livenessTimeoutMs: positive('http2LivenessTimeout'),
      streamIdleTimeoutMs: positive('streamIdleTimeout'),
    },
    shutdownGracePeriodMs: duration('shutdownGracePeriod'),
    enableShutdownEndpoint: parseBool(...get('enableShutdownEndpoint')),
    transparent,
    inboundTlsHandshakeTimeoutMs: positive('inboundTlsHandshakeTimeout'),
    ...authorizedIdentities(...get('inboundAuthorizedIdentities')),
    ...(destination !== '' ? { destination: nonZeroPort('destination') } : {}),
    ...(controlPlaneTokenFile !== '' ? { controlPlaneTokenFile } : {}),
    identity: {
      workload,
      namespace: name('namespace'),
      serviceAccount: name('serviceAccount'),
      pod:
        pod !== ''
          ? name('pod')
          : workload !== ''
            ? `${workload.slice(0, 57)}-${randomBytes(4).toString('hex').slice(0, 5)}`
            : '',
      labels: parseLabels(...get('label')),
      namedPorts: parseNamedPorts(...get('namedPort')),
      advertise:
        advertise !== ''
          ? advertised()
          : {
              host: ['0.0.0.0', '::'].includes(inboundAddr.host) ? '127.0.0.1' : inboundAddr.host,
              port: inboundAddr.port,
            },
    },
    identityOverrides,
  };
}

const IDENTITY_SETTINGS = {
  name: 'identityName',
  addr: 'identityAddr',
  trustAnchorsFile: 'identityTrustAnchorsFile',
  tokenFile: 'identityTokenFile',
  serverName: 'identityServerName',
} as const satisfies Record<keyof IdentitySettings, SettingName>;

/** A DNS name as identities are: lowercase labels of letters, digits and '-', dot-separated. */
/** `--inbound-authorized-identities`: DNS-like identity names, comma-separated; none: unset. */
function authorizedIdentities(text: string, what: string): { inboundAuthorizedIdentities?: Set<string> } {
  const ids = new Set<string>();
  for (const part of text.split(',')) {
    const id = part.trim();
    if (id === '') continue;
    if (!DNS_NAME.test(id)) throw new Error(`${what}: "${id.slice(0, 80)}" is not an identity (a DNS name)`);
    ids.add(id);
  }
  return ids.size > 0 ? { inboundAuthorizedIdentities: ids } : {};
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

/** The identity flags that are set; only a proxy that registers a workload has an identity. */
function resolveIdentityOverrides(
  get: (name: SettingName) => [string, string],
  hasWorkload: boolean,
): Partial<IdentitySettings> {
  const out: { -readonly [K in keyof IdentitySettings]?: IdentitySettings[K] } = {};
  for (const [field, setting] of Object.entries(IDENTITY_SETTINGS) as [
    keyof IdentitySettings,
    SettingName,
  ][]) {
    const [value, from] = get(setting);
    if (value === '') continue;
    if (!hasWorkload) {
      throw new Error(`${from}: only a proxy that registers a workload (--workload) has an identity`);
    }
    if (field === 'addr') {
      const addr = parseHostPort(value, from);
      if (addr.port === 0) throw new Error(`${from}: port 0 is not an address to connect to`);
      out.addr = addr;
    } else if (field === 'name' || field === 'serverName') {
      if (!DNS_NAME.test(value)) throw new Error(`${from}: "${value.slice(0, 80)}" is not a DNS name`);
      out[field] = value;
    } else {
      out[field] = value;
    }
  }
  return out;
}
