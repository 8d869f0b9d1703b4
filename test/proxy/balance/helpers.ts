import type { EndpointSpec } from '../../../src/proxy/balance/endpoint.js';

/** A clock the test moves by hand. */
export class FakeClock {
  t = 0;
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** A seeded generator (mulberry32), so statistical tests are reproducible. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function spec(port: number, weight = 10_000): EndpointSpec {
  return {
    key: `10.0.0.1:${port}`,
    addr: { host: '10.0.0.1', port },
    weight,
    labels: [['dst_pod', `p${port}`]],
  };
}

/**
 * Awaits `promise`, failing after `ms`. The balancer's timers are unref'd, so a test waiting
 * on them needs this ref'd timer to keep the event loop alive.
 */
export async function within<T>(promise: Promise<T>, ms = 2000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
