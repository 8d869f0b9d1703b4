export type BreakerState = 'closed' | 'open' | 'probation';

/**
 * Linkerd's ExponentialBackoff: the n-th backoff in a row is `minMs` × 2ⁿ⁻¹ up to `maxMs`,
 * plus a random amount up to `jitterRatio` times that, never past `maxMs`.
 */
export interface BackoffSettings {
  readonly minMs: number;
  readonly maxMs: number;
  readonly jitterRatio: number;
}

export interface BreakerSettings {
  /** Failures in a row that open the breaker. */
  readonly maxFailures: number;
  readonly backoff: BackoffSettings;
}

export function sameBreakerSettings(a: BreakerSettings | undefined, b: BreakerSettings | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return (
    a.maxFailures === b.maxFailures &&
    a.backoff.minMs === b.backoff.minMs &&
    a.backoff.maxMs === b.backoff.maxMs &&
    a.backoff.jitterRatio === b.backoff.jitterRatio
  );
}

/**
 * A consecutive-failures circuit breaker for one endpoint. Closed: traffic flows. Open: the
 * endpoint is out until `reopensAt`. Probation: the backoff has elapsed and exactly one
 * request (claimed by `claim`) may go; its outcome closes the breaker, or reopens it for the
 * next backoff. A success resets the backoffs.
 *
 * Open turns into probation lazily, when the state is next looked at. The recording methods
 * return whether the state changed, so the owner can wake whoever waits for an endpoint.
 */
export class Breaker {
  private readonly threshold: number;
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly jitterRatio: number;
  private current: BreakerState = 'closed';
  private failures = 0;
  /** Backoffs since the last success. */
  private opened = 0;
  private probeClaimed = false;
  private reopenAt = 0;

  constructor(
    settings: BreakerSettings,
    private readonly now: () => number = () => performance.now(),
    private readonly random: () => number = Math.random,
  ) {
    this.threshold = Math.max(1, settings.maxFailures);
    this.minMs = Math.max(0, settings.backoff.minMs);
    this.maxMs = Math.max(this.minMs, settings.backoff.maxMs);
    this.jitterRatio = Math.max(0, settings.backoff.jitterRatio);
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

  /**
   * When it is next available: `now` when it is, when the backoff ends while open, and
   * never (Infinity) while its probe is in flight: only the probe's outcome changes that.
   */
  availableAt(now: number): number {
    if (this.isAvailable(now)) return now;
    return this.current === 'open' ? this.reopenAt : Number.POSITIVE_INFINITY;
  }

  /** Takes it for one request: any number while closed, the one probe in probation. */
  claim(now = this.now()): boolean {
    const state = this.stateAt(now);
    if (state === 'closed') return true;
    if (state === 'open' || this.probeClaimed) return false;
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
    this.opened = 0;
    return true;
  }

  failure(now = this.now()): boolean {
    const state = this.stateAt(now);
    if (state === 'open') return false;
    if (state === 'closed' && ++this.failures < this.threshold) return false;
    this.open(now);
    return true;
  }

  private open(now: number): void {
    const base = Math.min(this.minMs * 2 ** Math.min(this.opened, 52), this.maxMs);
    const jitter = Math.min(this.random() * this.jitterRatio * base, this.maxMs - base);
    this.reopenAt = now + base + jitter;
    this.opened++;
    this.current = 'open';
    this.failures = 0;
    this.probeClaimed = false;
  }
}
