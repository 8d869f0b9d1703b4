/**
 * Network namespaces for tests that need real interception: namespaces joined by a veth
 * pair, and TCP peers (test/helpers/netns-agent.ts) run inside them as any user.
 *
 * These tests need root (CI runs as root). Without it they skip, saying why, unless
 * WEFT_REQUIRE_PRIVILEGED_TESTS=1 (set by .ci/run), which turns the skip into a failure.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { trackChild } from './proxy.js';

const AGENT = fileURLToPath(new URL('./netns-agent.js', import.meta.url));
/** A `serve` banner that makes the server answer with SO_ORIGINAL_DST instead. */
export const ORIGINAL_DST = '<original-dst>';

/** Why these tests cannot run here, or undefined when they can. */
export function privilegedUnavailable(tools: string[] = []): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces and iptables)';
  for (const tool of ['ip', 'nsenter', 'setpriv', ...tools]) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `needs ${tool} (Debian: apt-get install iproute2 util-linux iptables)`;
    }
  }
  return undefined;
}

/** Skips the test with the reason, or fails it when privileged tests are required. */
export function requirePrivileged(t: TestContext, tools: string[] = []): boolean {
  const why = privilegedUnavailable(tools);
  if (why === undefined) return true;
  if (process.env.WEFT_REQUIRE_PRIVILEGED_TESTS === '1') {
    throw new Error(`privileged test cannot run: ${why} (WEFT_REQUIRE_PRIVILEGED_TESTS=1)`);
  }
  t.skip(why);
  return false;
}

function sh(argv: string[]): string {
  return execFileSync(argv[0] as string, argv.slice(1), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

const created = new Set<string>();
process.on('exit', () => {
  for (const name of created) {
    try {
      execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    } catch {
      // Gone already.
    }
  }
});

export class Netns {
  private constructor(readonly name: string) {}

  /** A new namespace with its loopback up. */
  static create(name: string): Netns {
    sh(['ip', 'netns', 'add', name]);
    created.add(name);
    const ns = new Netns(name);
    ns.run(['ip', 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** The namespace's file, for `--netns`. */
  get path(): string {
    return `/run/netns/${this.name}`;
  }

  /** Runs a command inside the namespace to completion; returns its stdout. */
  run(argv: string[]): string {
    return sh(['ip', 'netns', 'exec', this.name, ...argv]);
  }

  /** Spawns a command inside the namespace, as `uid` (and the same gid) when given. */
  spawn(argv: string[], uid?: number): ChildProcess {
    const asUser = uid === undefined ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];
    const child = spawn('ip', ['netns', 'exec', this.name, ...asUser, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    trackChild(child);
    return child;
  }

  /**
   * A TCP server answering every connection with `banner`, or with the connection's
   * original destination as JSON when `banner` is ORIGINAL_DST; resolves once it listens.
   */
  async serve(
    host: string,
    port: number,
    banner: string,
    kind: 'tcp' | 'http' | 'echo' = 'tcp',
  ): Promise<ChildProcess> {
    const args =
      banner === ORIGINAL_DST
        ? ['origdst', host, String(port)]
        : kind === 'echo'
          ? ['echo', host, String(port)]
          : [kind === 'http' ? 'http-server' : 'server', host, String(port), banner];
    const child = this.spawn([process.execPath, AGENT, ...args]);
    await new Promise<void>((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout?.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('listening')) resolve();
      });
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.once('exit', (code) =>
        reject(new Error(`server ${host}:${port} in ${this.name} exited ${code}: ${err}`)),
      );
    });
    return child;
  }

  /**
   * Connects to host:port from inside the namespace (as `uid`), sends `payload` if given;
   * resolves with what it read, or "error CODE".
   */
  connect(host: string, port: number, uid?: number, payload?: string): Promise<string> {
    return this.agent(['client', host, String(port), ...(payload ? [payload] : [])], uid);
  }

  /** GETs `url` from inside the namespace (as `uid`); resolves with "<status> <body>" or "error CODE". */
  get(url: string, uid?: number): Promise<string> {
    return this.agent(['http', url], uid);
  }

  private agent(args: string[], uid?: number): Promise<string> {
    const child = this.spawn([process.execPath, AGENT, ...args], uid);
    return new Promise((resolve) => {
      let out = '';
      let err = '';
      child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.once('close', () => resolve((out.trim() || `error (no output) ${err.trim()}`).trim()));
    });
  }

  delete(): void {
    try {
      sh(['ip', 'netns', 'del', this.name]);
    } catch {
      // Gone already.
    }
    created.delete(this.name);
  }
}

/** Joins two namespaces with a veth pair: `a` gets `<prefix>.2/24`, `b` gets `<prefix>.1/24`. */
export function link(a: Netns, b: Netns, prefix: string): { aAddr: string; bAddr: string } {
  const ifA = `v${a.name}`.slice(0, 15);
  const ifB = `v${b.name}`.slice(0, 15);
  sh(['ip', 'link', 'add', ifA, 'netns', a.name, 'type', 'veth', 'peer', 'name', ifB, 'netns', b.name]);
  a.run(['ip', 'addr', 'add', `${prefix}.2/24`, 'dev', ifA]);
  b.run(['ip', 'addr', 'add', `${prefix}.1/24`, 'dev', ifB]);
  a.run(['ip', 'link', 'set', ifA, 'up']);
  b.run(['ip', 'link', 'set', ifB, 'up']);
  return { aAddr: `${prefix}.2`, bAddr: `${prefix}.1` };
}
