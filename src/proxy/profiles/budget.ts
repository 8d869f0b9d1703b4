/** The retry budget a profile without one gets (Linkerd's defaults). */
export const DEFAULT_BUDGET = { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 } as const;

const SLOTS = 10;

/**
 * A retry budget as Linkerd's proxy keeps one (tower's TpsBudget): every request deposits
 * one token, every retry withdraws 1/retryRatio of them, and a reserve lets
 * minRetriesPerSecond retries through without deposits. Deposits and withdrawals expire
 * after `ttl`, counted in ten slots, so over any ttl the retries stay under
 * retryRatio × requests + minRetriesPerSecond × ttl.
 */
export class RetryBudget {
  private readonly slots = new Float64Array(SLOTS);
  private readonly slotMs: number;
  private readonly depositAmount: number;
  private readonly withdrawAmount: number;
  private readonly reserve: number;
  private slot = 0;
  private slotStartedAt: number;

  constructor(
    readonly retryRatio: number,
    readonly minRetriesPerSecond: number,
    readonly ttlMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.slotMs = Math.max(1, ttlMs / SLOTS);
    // A ratio of 0 allows only the reserve.
    this.depositAmount = retryRatio > 0 ? 1 : 0;
    this.withdrawAmount = retryRatio > 0 ? 1 / retryRatio : 1;
    this.reserve = minRetriesPerSecond * (ttlMs / 1000) * this.withdrawAmount;
    this.slotStartedAt = now();
  }

  /** A request was sent (not a retry). */
  deposit(): void {
    this.advance();
    this.slots[this.slot] = (this.slots[this.slot] ?? 0) + this.depositAmount;
  }

  /** Takes the budget for one retry, if there is enough. */
  withdraw(): boolean {
    this.advance();
    let balance = this.reserve;
    for (const v of this.slots) balance += v;
    // 1/retryRatio is rarely exact: a sum that should reach it may fall short by a rounding.
    if (balance < this.withdrawAmount * (1 - 1e-9)) return false;
    this.slots[this.slot] = (this.slots[this.slot] ?? 0) - this.withdrawAmount;
    return true;
  }

  sameAs(retryRatio: number, minRetriesPerSecond: number, ttlMs: number): boolean {
    return (
      retryRatio === this.retryRatio &&
      minRetriesPerSecond === this.minRetriesPerSecond &&
      ttlMs === this.ttlMs
    );
  }

  /** Moves to the slot of now, expiring the ones it passes. */
  private advance(): void {
    const now = this.now();
    const passed = Math.floor((now - this.slotStartedAt) / this.slotMs);
    if (passed <= 0) return;
    for (let i = 0; i < Math.min(passed, SLOTS); i++) {
      this.slot = (this.slot + 1) % SLOTS;
      this.slots[this.slot] = 0;
    }
    this.slotStartedAt += passed * this.slotMs;
  }
}
