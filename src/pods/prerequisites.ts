/**
 * What pods in network namespaces need on this host: root on Linux, and the commands a
 * pod runs (ip, nsenter, setpriv, and the iptables its rules are written with), looked up
 * on PATH as they will be run. Missing ones are named with the Debian package that has them.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { iptablesCommands } from '../proxy-init/iptables.js';
import { POD_IPTABLES_MODE } from './pod.js';

export interface PodTool {
  readonly command: string;
  readonly debianPackage: string;
}

const podIptables = iptablesCommands(POD_IPTABLES_MODE);

/** The commands a pod in a network namespace runs (pod.ts, network.ts). */
export const POD_TOOLS: readonly PodTool[] = [
  { command: 'ip', debianPackage: 'iproute2' },
  { command: 'nsenter', debianPackage: 'util-linux' },
  { command: 'setpriv', debianPackage: 'util-linux' },
  { command: podIptables.save, debianPackage: 'iptables' },
  { command: podIptables.restore, debianPackage: 'iptables' },
];

/** Whether `command` is an executable file in one of PATH's directories. */
export function onPath(command: string, path = process.env.PATH ?? '/usr/bin:/bin'): boolean {
  return path.split(delimiter).some((dir) => {
    if (dir === '') return false;
    const file = join(dir, command);
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

/** The pods' commands that are not on PATH. */
export function missingPodTools(path?: string): PodTool[] {
  return POD_TOOLS.filter((t) => !onPath(t.command, path));
}

const and = (words: readonly string[]): string =>
  words.length < 2 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;

/** `pods need X and Y, which are not on PATH (Debian: apt-get install P)`, for tools that are missing. */
export function missingToolsProblem(missing: readonly PodTool[]): string {
  const packages = [...new Set(missing.map((t) => t.debianPackage))];
  const which = missing.length === 1 ? 'which is' : 'which are';
  return `pods need ${and(missing.map((t) => t.command))}, ${which} not on PATH (Debian: apt-get install ${packages.join(' ')})`;
}

/** Why pods in network namespaces cannot run here (not root on Linux, a missing command), or undefined. */
export function podsUnavailable(): string | undefined {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'pods need root on Linux';
  const missing = missingPodTools();
  return missing.length > 0 ? missingToolsProblem(missing) : undefined;
}
