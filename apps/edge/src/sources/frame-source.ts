/** A camera frame: encoded image bytes (JPEG/PNG) with where and when it was captured. */
export interface Frame {
  seq: number;
  capturedAt: number;
  image: Buffer;
  origin: string;
}

export interface FrameSourceStats {
  produced: number;
  skipped: number;
}

/**
 * Sources push frames into a one-slot mailbox: when inference is slower than the source, the newest
 * frame wins and every frame it replaces is counted as skipped.
 */
export abstract class FrameSource {
  private slot: Frame | undefined;
  private waiter: ((frame: Frame | undefined) => void) | undefined;
  private seq = 0;
  private ended = false;
  protected stopped = false;
  readonly stats: FrameSourceStats = { produced: 0, skipped: 0 };

  abstract readonly name: string;
  protected abstract run(): Promise<void>;

  start(): void {
    this.run()
      .catch((err: unknown) => this.onError(err))
      .finally(() => this.end());
  }

  stop(): void {
    this.stopped = true;
    this.end();
  }

  /** Resolves with the newest frame, or undefined once the source has ended. */
  next(): Promise<Frame | undefined> {
    if (this.slot) {
      const frame = this.slot;
      this.slot = undefined;
      return Promise.resolve(frame);
    }
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => (this.waiter = resolve));
  }

  protected push(image: Buffer, origin: string): void {
    if (this.stopped) return;
    const frame: Frame = { seq: ++this.seq, capturedAt: Date.now(), image, origin };
    this.stats.produced++;
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter(frame);
      return;
    }
    if (this.slot) this.stats.skipped++;
    this.slot = frame;
  }

  protected onError(err: unknown): void {
    this.lastError = err instanceof Error ? err : new Error(String(err));
  }

  lastError: Error | undefined;

  private end(): void {
    this.ended = true;
    if (this.waiter && !this.slot) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter(undefined);
    }
  }
}

/** Sleeps until `ms` have passed or the signal says stop. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
