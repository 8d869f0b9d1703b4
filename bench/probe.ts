// Single requests the harness makes itself before a row's load: a probe that a target answers (with the
// authority the load will ask for), retried until a deadline, and a plain GET of an admin endpoint.
import { request as httpRequest } from 'node:http';
import { connect as h2connect } from 'node:http2';
import { sleep } from './ready.js';
import type { LoadTarget } from './targets.js';

const PROBE_TIMEOUT_MS = 2000;

/** GETs http://127.0.0.1:port/path on a fresh connection; resolves with the status and the body. */
export function httpGet(
  target: LoadTarget,
  path = '/',
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = target.authority ? { host: target.authority } : {};
    const req = httpRequest(
      { host: '127.0.0.1', port: target.port, path, headers, agent: false, timeout: timeoutMs },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** HTTP/1.1 probe: GET / must answer 2xx. */
export async function http1Probe(target: LoadTarget): Promise<void> {
  const { status, body } = await httpGet(target);
  if (status < 200 || status >= 300) throw new Error(`GET / answered ${status}: ${body.slice(0, 200)}`);
}

/** HTTP/2 (h2c, prior knowledge) probe: GET / must answer 2xx. */
export function h2Probe(target: LoadTarget, timeoutMs = PROBE_TIMEOUT_MS): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let status = 0;
    let body = '';
    const session = h2connect(`http://127.0.0.1:${target.port}`);
    const timer = setTimeout(() => done(new Error(`h2 GET / timed out after ${timeoutMs} ms`)), timeoutMs);
    function done(err?: Error): void {
      clearTimeout(timer);
      session.destroy();
      if (err) reject(err);
      else if (status < 200 || status >= 300)
        reject(new Error(`h2 GET / answered ${status}: ${body.slice(0, 200)}`));
      else resolve();
    }
    session.on('error', (err) => done(err));
    const headers: Record<string, string> = { ':method': 'GET', ':path': '/' };
    if (target.authority) headers[':authority'] = target.authority;
    const stream = session.request(headers);
    stream.setEncoding('utf8');
    stream.on('response', (h) => {
      status = Number(h[':status']);
    });
    stream.on('data', (chunk: string) => {
      body += chunk;
    });
    stream.on('error', (err) => done(err));
    stream.on('end', () => done());
    stream.end();
  });
}

/**
 * Runs `probe` until it succeeds (e.g. while a proxy has not discovered its endpoint yet and answers
 * 503); rejects with the last failure once `timeoutMs` has passed. Resolves with the attempts made.
 */
export async function probeUntilOk(
  probe: () => Promise<void>,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      await probe();
      return attempts;
    } catch (err) {
      if (Date.now() >= deadline) {
        throw new Error(
          `${what}: no success within ${timeoutMs} ms (${attempts} attempts); last: ${(err as Error).message}`,
        );
      }
    }
    await sleep(100);
  }
}
