import type { RgbImage } from '@edgeloop/vision';
import { FrameRateLimiter } from './rate-limiter';

/**
 * A frame's pixels: encoded image bytes (JPEG/PNG, from a folder, an MJPEG stream or a push) or decoded
 * RGB (from ffmpeg, already at the size the pipeline needs), which the pipeline takes without decoding.
 */
export type FrameImage = Buffer | RgbImage;

/** A camera frame with where and when it was captured. */
export interface Frame<I extends FrameImage = FrameImage> {
  /** Per-source sequence over every frame the source received, so gaps show what was not delivered. */
  seq: number;
  capturedAt: number;
  image: I;
  origin: string;
}

/**
 * What became of the frames a source received. Every received frame is counted exactly once in
 * `delivered`, `skipped` or `rateLimited` (or is the one frame waiting in the mailbox).
 */
export interface FrameSourceStats {
  /** Frames received from the input (folder, ffmpeg, MJPEG stream, HTTP client) and accepted as images. */
  produced: number;
  /** Handed to the consumer by next(). */
  delivered: number;
  /** Replaced in the one-slot mailbox by a newer frame before the consumer took it: inference is slower than the source. */
  skipped: number;
  /** Dropped because they arrived faster than the maximum frame rate (including frames ffmpeg decimated). */
  rateLimited: number;
  /** Refused before they became frames: not an image, larger than the size limit. */
  rejected: number;
  /** Times a live input (MJPEG, RTSP, V4L2, …) was opened again after it dropped. */
  reconnects: number;
}

export interface FrameSourceOptions {
  /** Frames arriving faster than this are dropped and counted in `rateLimited`. Unset: no limit. */
  maxFps?: number;
  /** Monotonic milliseconds for the rate limit; tests pass a fake clock. */
  clock?: () => number;
}

export type PushStatus = 'accepted' | 'rate-limited' | 'stopped';

/**
 * Sources push frames into a one-slot mailbox: when inference is slower than the source, the newest
 * frame wins and every frame it replaces is counted as skipped. Frames above the maximum rate never
 * reach the mailbox and are counted as rate-limited.
 */
export abstract class FrameSource<I extends FrameImage = FrameImage> {
  private slot: Frame<I> | undefined;
  // Typed for any image, so that a source of one image type is a FrameSource of the wider FrameImage.
  private waiter: ((frame: Frame | undefined) => void) | undefined;
  private seq = 0;
  private ended = false;
  private running: Promise<void> | undefined;
  private readonly aborter = new AbortController();
  private readonly limiter: FrameRateLimiter | undefined;
  private readonly clock: () => number;
  readonly stats: FrameSourceStats = { produced: 0, delivered: 0, skipped: 0, rateLimited: 0, rejected: 0, reconnects: 0 };
  /** Why the source ended, when it ended on an error. */
  lastError: Error | undefined;

  abstract readonly name: string;
  /** Produces frames with push() until the input ends or `signal` aborts. */
  protected abstract run(): Promise<void>;

  constructor(options: FrameSourceOptions = {}) {
    this.limiter = options.maxFps ? new FrameRateLimiter(options.maxFps) : undefined;
    this.clock = options.clock ?? (() => performance.now());
  }

  get maxFps(): number | undefined {
    return this.limiter?.maxFps;
  }

  protected get stopped(): boolean {
    return this.aborter.signal.aborted;
  }

  /** Aborts when stop() is called: sources hand it to child processes, requests and servers. */
  protected get signal(): AbortSignal {
    return this.aborter.signal;
  }

  start(): void {
    if (this.running) return;
    this.running = this.run()
      .catch((err: unknown) => {
        if (!this.stopped) this.lastError = err instanceof Error ? err : new Error(String(err));
      })
      .finally(() => this.end());
  }

  /** Stops the input: next() ends once the last frame was taken; closed() tells when resources are released. */
  stop(): void {
    this.aborter.abort();
    this.end();
  }

  /** Resolves once the source has ended and released its child process, sockets or server. */
  closed(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** Resolves with the newest frame, or undefined once the source has ended. */
  next(): Promise<Frame<I> | undefined> {
    if (this.slot) {
      const frame = this.slot;
      this.slot = undefined;
      this.stats.delivered++;
      return Promise.resolve(frame);
    }
    if (this.ended) return Promise.resolve(undefined);
    if (this.waiter) return Promise.reject(new Error(`${this.name}: next() called again before the previous call resolved`));
    return new Promise<Frame<I> | undefined>((resolve) => (this.waiter = resolve as (frame: Frame | undefined) => void));
  }

  /** Offers a frame: rate limit first, then the mailbox (a waiting consumer takes it at once). */
  protected push(image: I, origin: string): { seq: number; status: PushStatus } {
    if (this.stopped || this.ended) return { seq: 0, status: 'stopped' };
    const frame: Frame<I> = { seq: ++this.seq, capturedAt: Date.now(), image, origin };
    this.stats.produced++;
    if (this.limiter && !this.limiter.admit(this.clock())) {
      this.stats.rateLimited++;
      return { seq: frame.seq, status: 'rate-limited' };
    }
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = undefined;
      this.stats.delivered++;
      waiter(frame);
    } else {
      if (this.slot) this.stats.skipped++;
      this.slot = frame;
    }
    return { seq: frame.seq, status: 'accepted' };
  }

  /** Counts frames dropped for the rate limit before they reached push() (ffmpeg's decimation). */
  protected countRateLimited(frames: number): void {
    if (frames > 0) this.stats.rateLimited += frames;
  }

  /** Sleeps `ms`, or less when the source is stopped meanwhile. */
  protected sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.signal.addEventListener('abort', done, { once: true });
    });
  }

  private end(): void {
    this.ended = true;
    if (this.waiter && !this.slot) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter(undefined);
    }
  }
}
