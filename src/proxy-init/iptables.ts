/**
 * Applies and removes proxy-init's rules with iptables-save and iptables-restore, in this
 * network namespace or another (through nsenter). Each change is one iptables-restore
 * transaction: the rules are all in place or none of them changed.
 */
import { statSync } from 'node:fs';
import { runCommand } from '../util/command.js';
import type { IptablesMode } from './config.js';
import { CHAINS, JUMPS, type Rule, restoreLine } from './rules.js';

export class IptablesError extends Error {
  override name = 'IptablesError';
}

export interface Iptables {
  /** The iptables command the rules are written for (iptables-legacy or iptables-nft). */
  readonly bin: string;
  /** The nat table, as iptables-save prints it. */
  save(): Promise<string>;
  /** Feeds `input` to iptables-restore --noflush. */
  restore(input: string): Promise<void>;
}

const MISSING = 'install iptables (Debian: apt-get install iptables)';
const run = (argv: string[], input?: string): Promise<string> =>
  runCommand(argv, { missing: MISSING, ...(input === undefined ? {} : { input }) });

/** The commands the iptables of `mode` is run by: its save and restore. */
export function iptablesCommands(mode: IptablesMode): { bin: string; save: string; restore: string } {
  const bin = `iptables-${mode}`;
  return { bin, save: `${bin}-save`, restore: `${bin}-restore` };
}

/** The iptables of `mode`, run in the network namespace at `netns` (this one when unset). */
export function iptables(mode: IptablesMode, netns?: string): Iptables {
  const { bin, save, restore } = iptablesCommands(mode);
  if (netns !== undefined) {
    try {
      statSync(netns);
    } catch {
      throw new IptablesError(`--netns: ${netns} does not exist (e.g. /run/netns/NAME or /proc/PID/ns/net)`);
    }
  }
  const inNs = (argv: string[]): string[] =>
    netns === undefined ? argv : ['nsenter', `--net=${netns}`, '--', ...argv];
  return {
    bin,
    save: () => run(inNs([save, '-t', 'nat'])),
    restore: (input) => run(inNs([restore, '--noflush', '--wait']), input).then(() => {}),
  };
}

/** What of ours the nat table already holds. */
export interface NatState {
  /** Our chains that exist. */
  readonly chains: ReadonlySet<string>;
  /** Rules of the built-in chains that jump to ours, as saved (`-A PREROUTING ... -j PROXY_INIT_REDIRECT`). */
  readonly jumps: readonly string[];
  /** Our chains' declarations and rules, as saved: what to compare for "changed". */
  readonly ours: readonly string[];
}

const OUR_CHAINS = new Set<string>(CHAINS.map((c) => c.chain));

/** Reads our part of the nat table out of iptables-save's output. */
export function parseNat(saved: string): NatState {
  const chains = new Set<string>();
  const jumps: string[] = [];
  const ours: string[] = [];
  let inNat = false;
  for (const line of saved.split('\n')) {
    if (line.startsWith('*')) inNat = line === '*nat';
    if (!inNat) continue;
    const decl = /^:(\S+) /.exec(line);
    if (decl && OUR_CHAINS.has(decl[1] as string)) {
      chains.add(decl[1] as string);
      ours.push(`:${decl[1]}`);
      continue;
    }
    const rule = /^-A (\S+) /.exec(line);
    if (!rule) continue;
    const chain = rule[1] as string;
    if (OUR_CHAINS.has(chain)) ours.push(line);
    else if (CHAINS.some((c) => c.from === chain) && /-j PROXY_INIT_(REDIRECT|OUTPUT)\b/.test(line)) {
      jumps.push(line);
      ours.push(line);
    }
  }
  return { chains, jumps, ours };
}

/**
 * The iptables-restore input that leaves exactly `rules` in our chains and one jump into
 * each: declaring a chain creates or flushes it, and jumps already there are deleted first.
 */
export function applyInput(state: NatState, rules: { redirect: Rule[]; output: Rule[] }): string {
  return [
    '*nat',
    ...CHAINS.map((c) => `:${c.chain} - [0:0]`),
    ...state.jumps.map((j) => j.replace(/^-A /, '-D ')),
    ...rules.redirect.map((r) => restoreLine(r)),
    restoreLine(JUMPS[0] as Rule),
    ...rules.output.map((r) => restoreLine(r)),
    restoreLine(JUMPS[1] as Rule),
    'COMMIT',
    '',
  ].join('\n');
}

/** The iptables-restore input that takes our rules and chains away; undefined when there are none. */
export function removeInput(state: NatState): string | undefined {
  if (state.chains.size === 0 && state.jumps.length === 0) return undefined;
  const present = CHAINS.filter((c) => state.chains.has(c.chain));
  return [
    '*nat',
    ...present.map((c) => `:${c.chain} - [0:0]`),
    ...state.jumps.map((j) => j.replace(/^-A /, '-D ')),
    ...present.map((c) => `-X ${c.chain}`),
    'COMMIT',
    '',
  ].join('\n');
}

/** Whether our part of the table differs between two iptables-save outputs. */
export function changed(before: string, after: string): boolean {
  return parseNat(before).ours.join('\n') !== parseNat(after).ours.join('\n');
}
