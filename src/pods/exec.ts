import { execFile } from 'node:child_process';

export class PodError extends Error {
  override name = 'PodError';
}

/** Runs a command to completion (ip, nsenter...); rejects with its stderr on failure. */
export function run(argv: readonly string[], timeoutMs = 15_000): Promise<string> {
  const [cmd, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) {
        resolve(stdout);
        return;
      }
      const code = (err as NodeJS.ErrnoException).code;
      reject(
        new PodError(
          code === 'ENOENT'
            ? `${cmd} not found: pods need iproute2 and util-linux (Debian: apt-get install iproute2 util-linux iptables)`
            : `${argv.join(' ')}: ${stderr.trim() || err.message}`,
        ),
      );
    });
  });
}
