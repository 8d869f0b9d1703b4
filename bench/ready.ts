// Waiting for a started process to become usable: a line on its stdout, or a TCP port that accepts.
import { connect, createServer } from 'node:net';
import { describeExit, type Managed } from './procs.js';

function exitedError(m: Managed, what: string): Error {
  const info = m.exitInfo;
  const how = info ? describeExit(info) : 'exited';
  return new Error(`${m.name} ${how} before ${what}\n${m.tail()}`.trim());
}

/** Resolves with the first stdout line for which `match` returns a value. */
export function waitForLine<T>(
  m: Managed,
  match: (line: string) => T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      reject(new Error(`${m.name} did not report ${what} within ${timeoutMs} ms\n${m.tail()}`.trim()));
    }, timeoutMs);
    m.onStdoutLine((line) => {
      if (done) return;
      const value = match(line);
      if (value === undefined) return;
      done = true;
      clearTimeout(timer);
      resolve(value);
    });
    void m.exited.then(() => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(exitedError(m, what));
    });
  });
}

/** Parses `{"ready":true,"port":N}`, the ready line of the harness's own node servers. */
export function readyPort(line: string): number | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const obj = JSON.parse(line) as { ready?: unknown; port?: unknown };
    return obj.ready === true && typeof obj.port === 'number' ? obj.port : undefined;
  } catch {
    return undefined;
  }
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls until 127.0.0.1:port accepts a connection; fails early if the process exits. */
export async function waitForPort(m: Managed, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (m.exitInfo) throw exitedError(m, `listening on port ${port}`);
    if (await tryConnect(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `${m.name} was not listening on 127.0.0.1:${port} after ${timeoutMs} ms\n${m.tail()}`.trim(),
  );
}

/** A port that was free a moment ago (for servers that cannot report the port they bound). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
