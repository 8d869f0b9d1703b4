import { runCommand } from '../util/command.js';

export class PodError extends Error {
  override name = 'PodError';
}

/** Runs a command to completion (ip, nsenter...); rejects with its stderr on failure. */
export function run(argv: readonly string[]): Promise<string> {
  return runCommand(argv, {
    missing: 'pods need iproute2 and util-linux (Debian: apt-get install iproute2 util-linux iptables)',
  });
}
