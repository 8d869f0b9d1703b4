/**
 * The NAT rules that send a pod's TCP through its proxy, in Linkerd proxy-init's chains,
 * order and comments: PROXY_INIT_REDIRECT from PREROUTING (inbound) and PROXY_INIT_OUTPUT
 * from OUTPUT (outbound). Pure: building and rendering only.
 */
import type { InitConfig, PortSpec } from './config.js';

export const REDIRECT_CHAIN = 'PROXY_INIT_REDIRECT';
export const OUTPUT_CHAIN = 'PROXY_INIT_OUTPUT';
/** Our chains, and the built-in chain that jumps to each. */
export const CHAINS = [
  { chain: REDIRECT_CHAIN, from: 'PREROUTING' },
  { chain: OUTPUT_CHAIN, from: 'OUTPUT' },
] as const;

/** One rule: `-A <chain> <spec> -m comment --comment <comment>`. */
export interface Rule {
  readonly chain: string;
  readonly spec: readonly string[];
  readonly comment: string;
}

/** The multiport match takes at most 15 ports, a range counting as two. */
const MULTIPORT_MAX = 15;

/** Splits ports into groups the multiport match accepts, in the order given. */
export function multiportGroups(ports: readonly PortSpec[]): PortSpec[][] {
  const groups: PortSpec[][] = [];
  let current: PortSpec[] = [];
  let used = 0;
  for (const p of ports) {
    const cost = p.first === p.last ? 1 : 2;
    if (used + cost > MULTIPORT_MAX) {
      groups.push(current);
      current = [];
      used = 0;
    }
    current.push(p);
    used += cost;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

const dports = (group: readonly PortSpec[]): string[] => [
  '-p',
  'tcp',
  '--match',
  'multiport',
  '--dports',
  group.map((p) => (p.first === p.last ? String(p.first) : `${p.first}:${p.last}`)).join(','),
];
const names = (group: readonly PortSpec[]): string => group.map((p) => p.text).join(',');

function inboundRules(c: InitConfig): Rule[] {
  const rules: Rule[] = [];
  for (const g of multiportGroups(c.inboundPortsToIgnore)) {
    rules.push({
      chain: REDIRECT_CHAIN,
      spec: [...dports(g), '-j', 'RETURN'],
      comment: `proxy-init/ignore-port-${names(g)}`,
    });
  }
  for (const subnet of c.subnetsToIgnore) {
    rules.push({
      chain: REDIRECT_CHAIN,
      spec: ['-p', 'all', '-j', 'RETURN', '-s', subnet],
      comment: `proxy-init/ignore-subnet-${subnet}`,
    });
  }
  const to = ['-j', 'REDIRECT', '--to-port', String(c.incomingProxyPort)];
  if (c.portsToRedirect.length === 0) {
    rules.push({
      chain: REDIRECT_CHAIN,
      spec: ['-p', 'tcp', ...to],
      comment: 'proxy-init/redirect-all-incoming-to-proxy-port',
    });
  } else {
    for (const g of multiportGroups(c.portsToRedirect)) {
      rules.push({
        chain: REDIRECT_CHAIN,
        spec: [...dports(g), ...to],
        comment: `proxy-init/redirect-port-${names(g)}`,
      });
    }
  }
  return rules;
}

function outboundRules(c: InitConfig): Rule[] {
  const rules: Rule[] = [
    {
      chain: OUTPUT_CHAIN,
      spec: ['-m', 'owner', '--uid-owner', String(c.proxyUid), '-j', 'RETURN'],
      comment: 'proxy-init/ignore-proxy-user-id',
    },
  ];
  if (c.proxyGid !== undefined) {
    rules.push({
      chain: OUTPUT_CHAIN,
      spec: ['-m', 'owner', '--gid-owner', String(c.proxyGid), '-j', 'RETURN'],
      comment: 'proxy-init/ignore-proxy-group-id',
    });
  }
  rules.push({
    chain: OUTPUT_CHAIN,
    spec: ['-o', 'lo', '-j', 'RETURN'],
    comment: 'proxy-init/ignore-loopback',
  });
  for (const g of multiportGroups(c.outboundPortsToIgnore)) {
    rules.push({
      chain: OUTPUT_CHAIN,
      spec: [...dports(g), '-j', 'RETURN'],
      comment: `proxy-init/ignore-port-${names(g)}`,
    });
  }
  rules.push({
    chain: OUTPUT_CHAIN,
    spec: ['-p', 'tcp', '-j', 'REDIRECT', '--to-port', String(c.outgoingProxyPort)],
    comment: 'proxy-init/redirect-all-outgoing-to-proxy-port',
  });
  return rules;
}

/** The jump into each of our chains, from PREROUTING and OUTPUT. */
export const JUMPS: readonly Rule[] = [
  { chain: 'PREROUTING', spec: ['-j', REDIRECT_CHAIN], comment: 'proxy-init/install-proxy-init-prerouting' },
  { chain: 'OUTPUT', spec: ['-j', OUTPUT_CHAIN], comment: 'proxy-init/install-proxy-init-output' },
];

/** Every rule, in order: the inbound chain and its jump, then the outbound chain and its jump. */
export function buildRules(c: InitConfig): { redirect: Rule[]; output: Rule[] } {
  return { redirect: inboundRules(c), output: outboundRules(c) };
}

/** A shell word, quoted only when it needs to be. */
function shellWord(w: string): string {
  return /^[A-Za-z0-9_./:,=+@%-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

function ruleArgs(r: Rule, op: '-A' | '-D'): string[] {
  return [op, r.chain, ...r.spec, '-m', 'comment', '--comment', r.comment];
}

/**
 * The rules as the iptables commands that make them from nothing, Linkerd proxy-init's
 * order: create the inbound chain, fill it, jump to it; then the same for outbound.
 */
export function renderCommands(c: InitConfig, bin: string): string[] {
  const { redirect, output } = buildRules(c);
  const cmd = (args: string[]): string => [bin, '-t', 'nat', ...args].map(shellWord).join(' ');
  return [
    cmd(['-N', REDIRECT_CHAIN]),
    ...redirect.map((r) => cmd(ruleArgs(r, '-A'))),
    cmd(ruleArgs(JUMPS[0] as Rule, '-A')),
    cmd(['-N', OUTPUT_CHAIN]),
    ...output.map((r) => cmd(ruleArgs(r, '-A'))),
    cmd(ruleArgs(JUMPS[1] as Rule, '-A')),
  ];
}

/** A rule as an iptables-restore line (`-A CHAIN ... -m comment --comment "..."`). */
export function restoreLine(r: Rule, op: '-A' | '-D' = '-A'): string {
  return ruleArgs(r, op)
    .map((w) => (/^[A-Za-z0-9_./:,=+@%-]+$/.test(w) ? w : `"${w.replace(/(["\\])/g, '\\$1')}"`))
    .join(' ');
}
