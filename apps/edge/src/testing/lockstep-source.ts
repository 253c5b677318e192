import { FrameSource } from '../sources';

/**
 * A deterministic test source: it pushes frame n+1 only after frame n was taken, so no frame is ever
 * replaced in the mailbox (skipped) and every frame produced must come out of the worker as a result.
 */
export class LockstepSource extends FrameSource {
  readonly name = 'lockstep';
  private taken = 0;
  private wake: (() => void) | undefined;

  constructor(
    private readonly images: readonly Buffer[],
    private readonly maxFrames = Number.POSITIVE_INFINITY,
    private readonly intervalMs = 0,
  ) {
    super();
  }

  override async next() {
    const frame = await super.next();
    if (frame) {
      this.taken++;
      this.wake?.();
    }
    return frame;
  }

  /** Frames pushed so far. */
  get produced(): number {
    return this.stats.produced;
  }

  protected async run(): Promise<void> {
    for (let i = 0; i < this.maxFrames && !this.stopped; i++) {
      this.push(this.images[i % this.images.length] as Buffer, `image-${i % this.images.length}`);
      while (this.taken <= i && !this.stopped) await new Promise<void>((resolve) => (this.wake = resolve));
      if (this.intervalMs > 0) await new Promise((resolve) => setTimeout(resolve, this.intervalMs));
    }
  }

  override stop(): void {
    super.stop();
    this.wake?.();
  }
}
