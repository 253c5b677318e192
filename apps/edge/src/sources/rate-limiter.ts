/**
 * A maximum frame rate as a generic cell-rate algorithm (virtual scheduling): each admitted frame books
 * the next slot one interval later, and a frame is admitted when it arrives no earlier than its slot less
 * a tolerance τ (half an interval by default). The tolerance absorbs delivery jitter, so a source that
 * already runs at `maxFps` with some jitter is not thinned out; the price is that one frame may come up
 * to τ early: over any window of W ms at most 1 + (W + τ)·maxFps/1000 frames pass (at 10 fps: 11 in a
 * second, 101 in ten), and the long-run rate is `maxFps`.
 */
export class FrameRateLimiter {
  private readonly intervalMs: number;
  private readonly toleranceMs: number;
  private nextSlot = Number.NEGATIVE_INFINITY;

  constructor(
    readonly maxFps: number,
    tolerance = 0.5,
  ) {
    if (!(maxFps > 0) || !Number.isFinite(maxFps)) throw new RangeError(`maxFps must be a positive number, got ${maxFps}`);
    if (!(tolerance >= 0 && tolerance < 1)) throw new RangeError(`tolerance must be in [0, 1), got ${tolerance}`);
    this.intervalMs = 1000 / maxFps;
    this.toleranceMs = this.intervalMs * tolerance;
  }

  /** True when a frame arriving at `nowMs` (a monotonic clock) fits in the rate; the slot is then taken. */
  admit(nowMs: number): boolean {
    if (nowMs < this.nextSlot - this.toleranceMs) return false;
    this.nextSlot = Math.max(this.nextSlot, nowMs) + this.intervalMs;
    return true;
  }
}
