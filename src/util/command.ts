import { spawn } from 'node:child_process';

/** A command that could not run, failed or timed out; the message names it and says why. */
export class CommandFailed extends Error {
  override name = 'CommandFailed';
}

export interface RunOptions {
  /** Written to its stdin (default: nothing). */
  readonly input?: string;
  /** Killed after this long (default 15 s). */
  readonly timeoutMs?: number;
  /** What to say when the command is not installed, e.g. which package provides it. */
  readonly missing: string;
}

/** Runs a command (ip, iptables-restore, nsenter...) to completion; resolves with its stdout. */
export function runCommand(argv: readonly string[], opts: RunOptions): Promise<string> {
  const [cmd, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new CommandFailed(
          err.code === 'ENOENT' ? `${cmd} not found: ${opts.missing}` : `${cmd}: ${err.message}`,
        ),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else {
        const why = signal ? `was killed (${signal})` : `exited ${code}`;
        reject(new CommandFailed(`${argv.join(' ')} ${why}: ${stderr.trim() || stdout.trim()}`));
      }
    });
  });
}
