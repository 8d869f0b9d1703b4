/** Exponential backoff with full jitter: 100 ms doubling up to `maxMs`, reset on success. */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly baseMs = 100,
    private readonly maxMs = 2000,
  ) {}
  next(): number {
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 16);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }
  reset(): void {
    this.attempt = 0;
  }
}
