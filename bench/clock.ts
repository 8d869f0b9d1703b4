// Timing for the open-loop generator. Node's timers fire on whole milliseconds, up to ~1 ms late, so
// a generator driven by setTimeout sends late by an amount that also depends on when responses happen
// to wake its event loop. Instead a worker thread (bench/ticker-worker.ts) sleeps until each due time
// with Atomics.wait, which takes fractional milliseconds, and wakes the main thread with a message.
// No thread busy-waits.
import { Worker } from 'node:worker_threads';

/** Monotonic milliseconds, sub-microsecond resolution; the same clock in every thread. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export interface TickerPlan {
  /** nowMs() of request 0. */
  t0: number;
  intervalMs: number;
  total: number;
}

export interface Ticker {
  stop(): Promise<void>;
}

/** Calls onTick soon after each due time t0 + i * intervalMs (several due times may share a tick). */
export function startTicker(plan: TickerPlan, onTick: () => void, onError: (err: Error) => void): Ticker {
  const worker = new Worker(new URL('./ticker-worker.js', import.meta.url), { workerData: plan });
  worker.on('message', onTick);
  worker.on('error', onError);
  return {
    stop: async () => {
      await worker.terminate();
    },
  };
}
