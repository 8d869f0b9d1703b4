// Worker thread of bench/clock.ts: sleeps until each due time of the open-loop schedule and posts one
// message per wake-up. Due times that have already passed when it wakes are covered by that message.
import { parentPort, workerData } from 'node:worker_threads';
import { nowMs, type TickerPlan } from './clock.js';

const { t0, intervalMs, total } = workerData as TickerPlan;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

let next = 0;
while (next < total) {
  const wait = t0 + next * intervalMs - nowMs();
  // Nobody ever notifies `sleeper`: this is a precise sleep (futex with a timeout).
  if (wait > 0) Atomics.wait(sleeper, 0, 0, wait);
  const now = nowMs();
  parentPort?.postMessage(0);
  // Skip every index that is due by now: the main thread sends all of them on this tick.
  next = Math.max(next + 1, Math.floor((now - t0) / intervalMs) + 1);
}
