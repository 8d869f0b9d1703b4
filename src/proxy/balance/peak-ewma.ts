/**
 * The latency estimate of one endpoint: a peak-sensitive, exponentially weighted moving
 * average, as in Finagle's and tower's PeakEwma. A slower observation replaces the estimate
 * at once; faster ones pull it down with a weight that depends on the time since the last
 * update, so the estimate forgets at the same rate whatever the request rate.
 *
 * Like those, the estimate also decays towards zero while nothing is observed: an endpoint
 * that was slow and got no traffic since is tried again after a while, instead of being
 * starved forever by faster ones.
 */
export class PeakEwma {
  private value: number;
  private stamp: number;

  constructor(
    defaultRttMs = 30,
    private readonly decayMs = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.value = defaultRttMs;
    this.stamp = now();
  }

  /** Records the round-trip time of one request, in milliseconds. */
  observe(rttMs: number, now = this.now()): void {
    const w = this.weight(now);
    const current = this.value * w;
    // value*w + rtt*(1-w): the EWMA step, with the decay since the last update folded in.
    this.value = rttMs > current ? rttMs : current + rttMs * (1 - w);
    this.stamp = now;
  }

  /** The estimate at `now`, in milliseconds. */
  estimate(now = this.now()): number {
    return this.value * this.weight(now);
  }

  private weight(now: number): number {
    const elapsed = now - this.stamp;
    return elapsed > 0 ? Math.exp(-elapsed / this.decayMs) : 1;
  }
}
