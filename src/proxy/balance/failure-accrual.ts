export type BreakerState = 'closed' | 'open' | 'probation';

export interface FailureAccrualOptions {
  /** Consecutive failures that open the breaker. */
  readonly consecutiveFailures?: number;
  /** The first backoff; each reopening without a success in between doubles it. */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Each backoff is multiplied by a random factor in (1 - jitter, 1]. */
  readonly jitter?: number;
  readonly now?: () => number;
  readonly random?: () => number;
}

/**
 * A consecutive-failures circuit breaker for one endpoint. Closed: traffic flows. Open: the
 * endpoint is out until `reopensAt`. Probation: the backoff has elapsed and exactly one
 * request (claimed by `tryProbe`) may go; its outcome closes or reopens the breaker.
 *
 * Open turns into probation lazily, when the state is next looked at. The recording methods
 * return whether the state changed, so the owner can wake whoever waits for an endpoint.
 */
export class FailureAccrual {
  private readonly threshold: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly jitter: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private current: BreakerState = 'closed';
  private failures = 0;
  private nextBackoffMs: number;
  private probeClaimed = false;
  private reopenAt = 0;

  constructor(options: FailureAccrualOptions = {}) {
    this.threshold = Math.max(1, options.consecutiveFailures ?? 7);
    this.minBackoffMs = options.minBackoffMs ?? 1000;
    this.maxBackoffMs = Math.max(this.minBackoffMs, options.maxBackoffMs ?? 60_000);
    this.jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
    this.now = options.now ?? (() => performance.now());
    this.random = options.random ?? Math.random;
    this.nextBackoffMs = this.minBackoffMs;
  }

  get state(): BreakerState {
    return this.stateAt(this.now());
  }

  /** When an open breaker lets a probe through (meaningful while open). */
  get reopensAt(): number {
    return this.reopenAt;
  }

  /** Whether a probe is in flight (probation, probe claimed). */
  get probing(): boolean {
    return this.current === 'probation' && this.probeClaimed;
  }

  stateAt(now: number): BreakerState {
    if (this.current === 'open' && now >= this.reopenAt) {
      this.current = 'probation';
      this.probeClaimed = false;
    }
    return this.current;
  }

  /** Closed, or in probation with the probe not yet claimed. */
  isAvailable(now = this.now()): boolean {
    const state = this.stateAt(now);
    return state === 'closed' || (state === 'probation' && !this.probeClaimed);
  }

  /** Claims the one probe of a probation; false when not in probation or already claimed. */
  tryProbe(now = this.now()): boolean {
    if (this.stateAt(now) !== 'probation' || this.probeClaimed) return false;
    this.probeClaimed = true;
    return true;
  }

  /** Gives the probe back unjudged (its request was cancelled), so another may probe. */
  releaseProbe(): boolean {
    if (!this.probing) return false;
    this.probeClaimed = false;
    return true;
  }

  success(now = this.now()): boolean {
    const state = this.stateAt(now);
    if (state === 'closed') {
      this.failures = 0;
      return false;
    }
    // A success while open comes from a request sent before it opened: not a probe.
    if (state === 'open') return false;
    this.current = 'closed';
    this.failures = 0;
    this.probeClaimed = false;
    this.nextBackoffMs = this.minBackoffMs;
    return true;
  }

  failure(now = this.now()): boolean {
    const state = this.stateAt(now);
    if (state === 'open') return false;
    if (state === 'closed' && ++this.failures < this.threshold) return false;
    this.open(now);
    return true;
  }

  /** A refused or timed-out TCP connect: the endpoint is out without waiting for more. */
  connectFailure(now = this.now()): boolean {
    if (this.stateAt(now) === 'open') return false;
    this.open(now);
    return true;
  }

  private open(now: number): void {
    const base = this.nextBackoffMs;
    this.reopenAt = now + base * (1 - this.jitter * this.random());
    this.nextBackoffMs = Math.min(base * 2, this.maxBackoffMs);
    this.current = 'open';
    this.failures = 0;
    this.probeClaimed = false;
  }
}
