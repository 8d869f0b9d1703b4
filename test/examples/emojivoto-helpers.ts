/**
 * Runs the emojivoto programs (dist/examples/emojivoto/<name>.js) as real child processes
 * on loopback, and a grpc-js client built straight from the committed protos.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { type Cleanup, LOOPBACK, listen, request, waitFor, withTimeout } from '../helpers/net.js';
import { childEnd, childEnv, parseJsonLine, REPO_ROOT, trackChild } from '../helpers/proxy.js';

export type ProgramName = 'emoji' | 'voting' | 'web' | 'vote-bot';

/** This file is compiled to dist/test/examples/; the programs to dist/examples/emojivoto/. */
export function entryFile(name: string): string {
  return fileURLToPath(new URL(`../../examples/emojivoto/${name}.js`, import.meta.url));
}

export const PROTO_DIR = join(REPO_ROOT, 'examples', 'emojivoto', 'proto');

export type LogRecord = Record<string, unknown>;

/** `n` distinct loopback ports free at the time of the call (all held open, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => net.createServer());
  const ports = await Promise.all(servers.map((s) => listen(s)));
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

export interface Program {
  name: ProgramName;
  pid: number;
  /** The start record (the first log line). */
  start: LogRecord;
  /** Every JSON log line on stdout so far. */
  logs: LogRecord[];
  stdout: string[];
  stderr: string[];
  exited: Promise<number | null>;
  /** Sends `signal` (SIGTERM) unless already exited; SIGKILL after 15 s. Resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Spawns the program with `env` (on top of ours without any *_proxy variable) and waits
 * for its start line; it is stopped (SIGKILL) by `cleanup` unless it has exited already.
 */
export async function startProgram(
  cleanup: Cleanup,
  name: ProgramName,
  env: Record<string, string | undefined>,
): Promise<Program> {
  const proc = spawn(process.execPath, [entryFile(name)], {
    cwd: REPO_ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(proc);
  const logs: LogRecord[] = [];
  const stdout: string[] = [];
  const stderr: string[] = [];
  const end = childEnd(proc, 'SIGTERM');
  const { exited, stop } = end;
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    stdout.push(line);
    const rec = parseJsonLine(line);
    if (rec) logs.push(rec);
  });
  createInterface({ input: proc.stderr as NodeJS.ReadableStream }).on('line', (line) => stderr.push(line));
  cleanup.add(() => stop('SIGKILL'));
  const describe = () => `${name} stdout:\n${stdout.join('\n')}\nstderr:\n${stderr.join('\n')}`;
  await waitFor(
    () => {
      if (end.code !== undefined)
        throw new Error(`${name} exited with ${end.code} before starting\n${describe()}`);
      return logs.length > 0;
    },
    `${name} to log its start line`,
    15_000,
  );
  const start = logs[0] as LogRecord;
  return { name, pid: proc.pid ?? 0, start, logs, stdout, stderr, exited, stop };
}

export interface Stack {
  emoji: Program;
  voting: Program;
  web: Program;
  emojiPort: number;
  votingPort: number;
  webPort: number;
}

/** emoji, voting and web on free loopback ports, web calling the other two. */
export async function startStack(cleanup: Cleanup, votingEnv: Record<string, string> = {}): Promise<Stack> {
  const [emojiPort = 0, votingPort = 0, webPort = 0] = await freePorts(3);
  const [emoji, voting] = await Promise.all([
    startProgram(cleanup, 'emoji', { GRPC_PORT: String(emojiPort) }),
    startProgram(cleanup, 'voting', { GRPC_PORT: String(votingPort), ...votingEnv }),
  ]);
  const web = await startProgram(cleanup, 'web', {
    WEB_PORT: String(webPort),
    EMOJISVC_HOST: `${LOOPBACK}:${emojiPort}`,
    VOTINGSVC_HOST: `${LOOPBACK}:${votingPort}`,
  });
  return { emoji, voting, web, emojiPort, votingPort, webPort };
}

export interface ExitResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program expected to exit by itself (a bad environment). */
export function runExpectExit(
  name: ProgramName,
  env: Record<string, string | undefined>,
): Promise<ExitResult> {
  const proc = spawn(process.execPath, [entryFile(name)], {
    cwd: REPO_ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const done = new Promise<ExitResult>((resolve) =>
    proc.once('close', (code) => resolve({ code, stdout, stderr })),
  );
  return withTimeout(done, 15_000, `${name} to exit`).catch((err: unknown) => {
    proc.kill('SIGKILL');
    throw err;
  });
}

/** GET (or another method) on the web service; the body as text. */
export async function webGet(
  port: number,
  path: string,
  options: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; contentType: string; text: string }> {
  const r = await request(
    { host: LOOPBACK, port, path, method: options.method ?? 'GET', headers: options.headers ?? {} },
    options.body,
  );
  return {
    status: r.status,
    contentType: String(r.headers['content-type'] ?? ''),
    text: r.body.toString('utf8'),
  };
}

/** The two services as proto-loader reads the committed protos. */
export function loadProtos(): protoLoader.PackageDefinition {
  return protoLoader.loadSync([join(PROTO_DIR, 'Emoji.proto'), join(PROTO_DIR, 'Voting.proto')], {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
}

export function serviceDef(pkg: protoLoader.PackageDefinition, name: string): protoLoader.ServiceDefinition {
  const def = pkg[name];
  if (!def || 'format' in def) throw new Error(`${name} is not a service in the protos`);
  return def as protoLoader.ServiceDefinition;
}

/** One unary call with a plain grpc-js client; rejects with the grpc ServiceError. */
export function unary<Res>(
  client: grpc.Client,
  service: protoLoader.ServiceDefinition,
  method: string,
  req: object,
): Promise<Res> {
  const def = service[method];
  if (!def) throw new Error(`no method ${method}`);
  return withTimeout(
    new Promise<Res>((resolve, reject) => {
      client.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        (b: Buffer) => def.responseDeserialize(b) as Res,
        req,
        (err: grpc.ServiceError | null, res?: Res) => (err ? reject(err) : resolve(res as Res)),
      );
    }),
    10_000,
    `${method}`,
  );
}

export function grpcClient(cleanup: Cleanup, port: number): grpc.Client {
  const client = new grpc.Client(`${LOOPBACK}:${port}`, grpc.credentials.createInsecure());
  cleanup.add(() => client.close());
  return client;
}

/** The log records with this msg. */
export function logsWith(p: Program, msg: string | RegExp): LogRecord[] {
  return p.logs.filter((r) => (typeof msg === 'string' ? r.msg === msg : msg.test(String(r.msg))));
}
