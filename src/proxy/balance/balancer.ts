import { type BackoffSettings, type BreakerSettings, sameBreakerSettings } from './breaker.js';
import { Endpoint, type EndpointOptions, type EndpointSpec } from './endpoint.js';

export interface BalancerOptions {
  readonly defaultRttMs?: number;
  readonly decayMs?: number;
  /** The Service's failure accrual (setFailureAccrual changes it); absent: none. */
  readonly failureAccrual?: BreakerSettings;
  /** Backoffs after failed connects; default CONNECT_BACKOFF. */
  readonly connectBackoff?: BackoffSettings;
  /** Requests that may wait for an endpoint; beyond, they fail at once. */
  readonly queueCapacity?: number;
  /** How long a request waits for an endpoint before failing. */
  readonly failfastMs?: number;
  readonly now?: () => number;
  readonly random?: () => number;
}

/** Receives the endpoint for a request, or undefined and why there is none. */
export type AcquireCallback = (endpoint: Endpoint | undefined, reason?: string) => void;

interface Waiter {
  readonly cb: AcquireCallback;
  readonly timer: NodeJS.Timeout;
}

const NOOP = (): void => {};
// Samples drawn before falling back to a scan, when some endpoints are out.
const SAMPLE_TRIES = 3;

/**
 * The endpoint set of one service. HTTP requests go to the cheaper of two random available
 * endpoints (power of two choices over the peak-EWMA load); opaque connections go to the
 * endpoint with the fewest connections per weight. When none is available, requests wait
 * in a bounded FIFO queue for up to `failfastMs`. Endpoints are out while a breaker of theirs
 * is open (see Endpoint).
 */
export class Balancer {
  private list: Endpoint[] = [];
  private readonly byKey = new Map<string, Endpoint>();
  private readonly waiters = new Set<Waiter>();
  private readonly now: () => number;
  private readonly random: () => number;
  private endpointOptions: EndpointOptions;
  private readonly queueCapacity: number;
  private readonly failfastMs: number;
  private readonly onChange = (): void => this.wake();
  private reopenTimer: NodeJS.Timeout | undefined;
  private reopenTimerAt = 0;
  private draining = false;
  private drainAgain = false;
  private closed = false;

  constructor(options: BalancerOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.random = options.random ?? Math.random;
    this.queueCapacity = options.queueCapacity ?? 10_000;
    this.failfastMs = options.failfastMs ?? 3000;
    this.endpointOptions = {
      defaultRttMs: options.defaultRttMs ?? 30,
      decayMs: options.decayMs ?? 10_000,
      failureAccrual: options.failureAccrual,
      connectBackoff: options.connectBackoff,
      now: this.now,
      random: this.random,
    };
  }

  get failureAccrual(): BreakerSettings | undefined {
    return this.endpointOptions.failureAccrual;
  }

  /**
   * Changes the failure accrual of every endpoint, now and to come. New settings give each
   * endpoint a fresh breaker; none brings back at once those it had taken out.
   */
  setFailureAccrual(settings: BreakerSettings | undefined): void {
    if (sameBreakerSettings(settings, this.endpointOptions.failureAccrual)) return;
    this.endpointOptions = { ...this.endpointOptions, failureAccrual: settings };
    for (const ep of this.list) ep.setFailureAccrual(settings);
    this.wake();
    this.scheduleReopen();
  }

  get size(): number {
    return this.list.length;
  }

  /** A snapshot: later changes to the set do not affect it. */
  endpoints(): Iterable<Endpoint> {
    return this.list;
  }

  get(key: string): Endpoint | undefined {
    return this.byKey.get(key);
  }

  /** Makes the set exactly `specs`, keeping the state of endpoints already known. */
  replace(specs: readonly EndpointSpec[]): void {
    const keep = new Set<string>();
    for (const spec of specs) keep.add(spec.key);
    for (const ep of this.list) if (!keep.has(ep.key)) this.drop(ep);
    this.upsert(specs);
  }

  /** Adds endpoints, or updates those whose key is known. */
  add(specs: readonly EndpointSpec[]): void {
    this.upsert(specs);
  }

  remove(keys: readonly string[]): void {
    let changed = false;
    for (const key of keys) {
      const ep = this.byKey.get(key);
      if (ep) {
        this.drop(ep);
        changed = true;
      }
    }
    if (changed) this.rebuild();
  }

  clear(): void {
    for (const ep of this.list) this.drop(ep);
    this.rebuild();
  }

  /** Endpoints available now, and those out (open breaker, or probation with a probe in flight). */
  counts(): { ready: number; pending: number } {
    const now = this.now();
    let ready = 0;
    for (const ep of this.list) if (ep.isAvailable(now)) ready++;
    return { ready, pending: this.list.length - ready };
  }

  /**
   * Power of two choices: the lower load of two distinct random available endpoints. An
   * endpoint in probation is returned only with its probe claimed for the caller.
   */
  pick(): Endpoint | undefined {
    const list = this.list;
    const now = this.now();
    if (list.length <= 1) {
      const only = list[0];
      return only && this.claimed(only, now);
    }
    const a = this.sample(list, now, -1);
    const b = a < 0 ? -1 : this.sample(list, now, a);
    const ea = list[a];
    const eb = list[b];
    if (ea === undefined || eb === undefined) return this.scanPick(now);
    return this.claimed(this.cheaper(ea, eb, now), now);
  }

  /** For an opaque connection: the available endpoint with the fewest connections per weight. */
  pickLeastLoaded(): Endpoint | undefined {
    const now = this.now();
    let best: Endpoint | undefined;
    let bestCost = Number.POSITIVE_INFINITY;
    let ties = 0;
    for (const ep of this.list) {
      if (!ep.isAvailable(now)) continue;
      const cost = (ep.connections + 1) / ep.weight;
      if (cost < bestCost) {
        best = ep;
        bestCost = cost;
        ties = 1;
      } else if (cost === bestCost && this.random() * ++ties < 1) {
        // Reservoir sampling: each of the tied endpoints ends up chosen with equal odds.
        best = ep;
      }
    }
    return best && this.claimed(best, now);
  }

  /**
   * Calls `cb` with an endpoint: at once when one can be picked, else when one becomes
   * available, or with undefined and a reason after `failfastMs` or when the queue is full.
   * Returns a function that gives up the wait (the client went away).
   */
  acquire(cb: AcquireCallback): () => void {
    if (this.closed) {
      cb(undefined, 'balancer closed');
      return NOOP;
    }
    if (this.waiters.size > 0) this.drain();
    if (this.waiters.size === 0) {
      const ep = this.pick();
      if (ep) {
        cb(ep);
        return NOOP;
      }
    }
    if (this.waiters.size >= this.queueCapacity) {
      cb(undefined, 'queue full');
      return NOOP;
    }
    const timer = setTimeout(() => this.expire(waiter), this.failfastMs);
    timer.unref();
    const waiter: Waiter = { cb, timer };
    this.waiters.add(waiter);
    this.scheduleReopen();
    return () => {
      if (!this.waiters.delete(waiter)) return;
      clearTimeout(waiter.timer);
      this.scheduleReopen();
    };
  }

  /** Fails every waiter and stops the timers; later acquires fail at once. */
  close(): void {
    this.closed = true;
    this.clearReopenTimer();
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) {
      clearTimeout(w.timer);
      w.cb(undefined, 'balancer closed');
    }
  }

  private upsert(specs: readonly EndpointSpec[]): void {
    for (const spec of specs) {
      const known = this.byKey.get(spec.key);
      if (known) known.update(spec);
      else this.byKey.set(spec.key, new Endpoint(spec, this.endpointOptions, this.onChange));
    }
    this.rebuild();
    this.wake();
  }

  private drop(ep: Endpoint): void {
    ep.removed = true;
    this.byKey.delete(ep.key);
  }

  // A new array each time, so snapshots handed out by endpoints() stay valid.
  private rebuild(): void {
    this.list = [...this.byKey.values()];
  }

  /** Index of a random available endpoint other than `exclude`, or -1 after a few misses. */
  private sample(list: readonly Endpoint[], now: number, exclude: number): number {
    const n = exclude < 0 ? list.length : list.length - 1;
    if (n <= 0) return -1;
    for (let i = 0; i < SAMPLE_TRIES; i++) {
      let index = Math.floor(this.random() * n);
      if (exclude >= 0 && index >= exclude) index++;
      if (list[index]?.isAvailable(now)) return index;
    }
    return -1;
  }

  /** The power of two choices among the available endpoints, found by scanning. */
  private scanPick(now: number): Endpoint | undefined {
    let available = 0;
    for (const ep of this.list) if (ep.isAvailable(now)) available++;
    if (available === 0) return undefined;
    const first = Math.floor(this.random() * available);
    let second = available > 1 ? Math.floor(this.random() * (available - 1)) : first;
    if (available > 1 && second >= first) second++;
    let ea: Endpoint | undefined;
    let eb: Endpoint | undefined;
    let rank = 0;
    for (const ep of this.list) {
      if (!ep.isAvailable(now)) continue;
      if (rank === first) ea = ep;
      if (rank === second) eb = ep;
      rank++;
    }
    if (ea === undefined || eb === undefined) return undefined;
    return this.claimed(ea === eb ? ea : this.cheaper(ea, eb, now), now);
  }

  private cheaper(a: Endpoint, b: Endpoint, now: number): Endpoint {
    const la = a.load(now);
    const lb = b.load(now);
    if (la < lb) return a;
    if (lb < la) return b;
    return this.random() < 0.5 ? a : b;
  }

  private claimed(ep: Endpoint, now: number): Endpoint | undefined {
    return ep.claim(now) ? ep : undefined;
  }

  /** Something may have become pickable: serve waiters if there are any. */
  private wake(): void {
    if (this.waiters.size > 0) this.drain();
  }

  private drain(): void {
    // A callback may finish a request synchronously and wake us again: loop instead of recursing.
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = true;
    try {
      do {
        this.drainAgain = false;
        for (const waiter of this.waiters) {
          const ep = this.pick();
          if (ep === undefined) break;
          this.waiters.delete(waiter);
          clearTimeout(waiter.timer);
          waiter.cb(ep);
        }
      } while (this.drainAgain && this.waiters.size > 0);
    } finally {
      this.draining = false;
    }
    this.scheduleReopen();
  }

  private expire(waiter: Waiter): void {
    if (!this.waiters.delete(waiter)) return;
    this.scheduleReopen();
    waiter.cb(undefined, this.failReason());
  }

  private failReason(): string {
    const after = this.failfastMs % 1000 === 0 ? `${this.failfastMs / 1000}s` : `${this.failfastMs}ms`;
    const n = this.list.length;
    if (n === 0) return `no endpoints available after ${after}`;
    return n === 1
      ? `the only endpoint is failing after ${after}`
      : `all ${n} endpoints are failing after ${after}`;
  }

  /** While requests wait, a timer for the earliest breaker that lets a probe through. */
  private scheduleReopen(): void {
    if (this.waiters.size === 0 || this.closed) {
      this.clearReopenTimer();
      return;
    }
    const now = this.now();
    let earliest = Number.POSITIVE_INFINITY;
    // An endpoint available now (a backoff that ran out since the last pick: a timer may
    // fire a little before the clock the breaker reads) gets a wake-up at once.
    for (const ep of this.list) earliest = Math.min(earliest, ep.availableAt(now));
    if (earliest === Number.POSITIVE_INFINITY) {
      this.clearReopenTimer();
      return;
    }
    if (this.reopenTimer !== undefined && this.reopenTimerAt === earliest) return;
    this.clearReopenTimer();
    this.reopenTimerAt = earliest;
    this.reopenTimer = setTimeout(
      () => {
        this.reopenTimer = undefined;
        this.wake();
        this.scheduleReopen();
      },
      Math.max(1, Math.ceil(earliest - now)),
    );
    this.reopenTimer.unref();
  }

  private clearReopenTimer(): void {
    if (this.reopenTimer === undefined) return;
    clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
  }
}
