/** A token bucket: `capacity` tokens at most, refilled at `perMinute`; `take` spends one if there is one. */
export class TokenBucket {
  private tokens: number;
  private updated: number;

  constructor(
    private readonly perMinute: number,
    private readonly capacity: number,
    now = Date.now(),
  ) {
    this.tokens = capacity;
    this.updated = now;
  }

  take(now = Date.now()): boolean {
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.updated) / 60_000) * this.perMinute);
    this.updated = now;
    if (this.tokens < 1 - 1e-9) return false;
    this.tokens -= 1;
    return true;
  }
}
