import { FrameSource, type Frame, type FrameSourceOptions } from './frame-source';
import { FrameRateLimiter } from './rate-limiter';

/** A producer driven by the test: it pushes exactly when told to, on a fake clock. */
class ScriptedSource extends FrameSource {
  readonly name = 'scripted';
  now = 0;

  constructor(options: Omit<FrameSourceOptions, 'clock'> = {}) {
    super({ ...options, clock: () => this.now });
  }

  protected run(): Promise<void> {
    return new Promise((resolve) => this.signal.addEventListener('abort', () => resolve()));
  }

  /** Pushes a frame at `atMs` on the fake clock. */
  offer(atMs: number, label = `frame@${atMs}`) {
    this.now = atMs;
    return this.push(Buffer.from(label), label);
  }
}

const label = (frame: Frame | undefined) => frame?.image.toString();

describe('FrameSource mailbox (newest frame wins)', () => {
  it('hands a waiting consumer the frame at once, without counting a skip', async () => {
    const source = new ScriptedSource();
    source.start();
    const waiting = source.next();
    expect(source.offer(0, 'a')).toEqual({ seq: 1, status: 'accepted' });
    expect(label(await waiting)).toBe('a');
    expect(source.stats).toMatchObject({ produced: 1, delivered: 1, skipped: 0, rateLimited: 0 });
    source.stop();
    await source.closed();
  });

  it('keeps only the newest frame while the consumer is busy and counts the replaced ones as skipped', async () => {
    const source = new ScriptedSource();
    source.start();
    for (const [i, name] of ['a', 'b', 'c', 'd'].entries()) source.offer(i * 100, name);
    const frame = await source.next();
    expect(label(frame)).toBe('d');
    expect(frame?.seq).toBe(4);
    expect(source.stats).toMatchObject({ produced: 4, delivered: 1, skipped: 3, rateLimited: 0 });
    source.stop();
    await source.closed();
  });

  it('a slow consumer sees gaps in seq that add up to the skipped count', async () => {
    const source = new ScriptedSource();
    source.start();
    const seen: number[] = [];
    let clock = 0;
    // The producer offers 5 frames for every frame the consumer finishes.
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 5; i++) source.offer((clock += 10));
      const frame = await source.next();
      seen.push(frame!.seq);
    }
    expect(seen).toEqual([5, 10, 15, 20, 25, 30, 35, 40, 45, 50]);
    expect(source.stats).toMatchObject({ produced: 50, delivered: 10, skipped: 40, rateLimited: 0 });
    source.stop();
    await source.closed();
  });

  it('ends next() with undefined after stop(), once the last frame was taken', async () => {
    const source = new ScriptedSource();
    source.start();
    source.offer(0, 'last');
    source.stop();
    await source.closed();
    expect(label(await source.next())).toBe('last');
    expect(await source.next()).toBeUndefined();
    expect(source.offer(1, 'late')).toEqual({ seq: 0, status: 'stopped' });
  });

  it('releases a consumer that is waiting when the source stops', async () => {
    const source = new ScriptedSource();
    source.start();
    const waiting = source.next();
    source.stop();
    await source.closed();
    await expect(waiting).resolves.toBeUndefined();
  });

  it('refuses a second next() while one is pending (there is one consumer)', async () => {
    const source = new ScriptedSource();
    source.start();
    const first = source.next();
    await expect(source.next()).rejects.toThrow(/called again/);
    source.offer(0, 'x');
    expect(label(await first)).toBe('x');
    source.stop();
    await source.closed();
  });

  it('records the error a run ended with', async () => {
    class Failing extends FrameSource {
      readonly name = 'failing';
      protected async run(): Promise<void> {
        throw new Error('camera gone');
      }
    }
    const source = new Failing();
    source.start();
    expect(await source.next()).toBeUndefined();
    expect(source.lastError?.message).toBe('camera gone');
  });
});

describe('FrameSource rate limit', () => {
  it('drops frames above maxFps before the mailbox and counts them apart from skipped ones', async () => {
    const source = new ScriptedSource({ maxFps: 10 });
    source.start();
    const admittedAt: number[] = [];
    // 30 fps for 10 s: a frame every 33.3 ms.
    for (let i = 0; i < 300; i++) {
      const at = (i * 1000) / 30;
      if (source.offer(at).status === 'accepted') admittedAt.push(at);
    }
    // 10 fps plus the one frame the jitter tolerance lets in early (GCRA: at most 1 + (W + τ)·fps in W).
    expect(admittedAt).toHaveLength(101);
    for (const start of admittedAt) expect(admittedAt.filter((t) => t >= start && t < start + 1000).length).toBeLessThanOrEqual(11);
    // Nobody took any admitted frame: the newest waits in the mailbox, the 100 before it were replaced.
    expect(source.stats).toMatchObject({ produced: 300, rateLimited: 199, skipped: 100, delivered: 0 });
    expect((await source.next())?.seq).toBe(300);
    expect(source.stats.delivered).toBe(1);
    source.stop();
    await source.closed();
  });

  it('with a fast consumer every admitted frame is delivered: only rate-limited frames are lost', async () => {
    const source = new ScriptedSource({ maxFps: 5 });
    source.start();
    const delivered: number[] = [];
    let waiting = source.next();
    for (let i = 0; i < 100; i++) {
      // 50 fps for 2 s, the consumer always waiting.
      if (source.offer(i * 20).status === 'accepted') {
        delivered.push((await waiting)!.seq);
        waiting = source.next();
      }
    }
    // t = 0, then every 200 ms from t = 100 ms (the first one half an interval early).
    expect(delivered).toEqual([1, 6, 16, 26, 36, 46, 56, 66, 76, 86, 96]);
    expect(source.stats).toMatchObject({ produced: 100, delivered: 11, rateLimited: 89, skipped: 0 });
    source.stop();
    await source.closed();
    await expect(waiting).resolves.toBeUndefined();
  });

  it('passes a source running at maxFps with jitter untouched', () => {
    const limiter = new FrameRateLimiter(10);
    const arrivals = Array.from({ length: 100 }, (_, i) => i * 100 + (i % 2 === 0 ? 20 : -20));
    expect(arrivals.filter((t) => limiter.admit(t)).length).toBe(100);
  });

  it('never lets more than maxFps through over a window, whatever the arrival pattern', () => {
    const limiter = new FrameRateLimiter(4);
    let admitted = 0;
    // Bursts of 10 frames at the same instant, every 250 ms, for 10 s.
    for (let t = 0; t < 10_000; t += 250) for (let i = 0; i < 10; i++) if (limiter.admit(t)) admitted++;
    expect(admitted).toBe(40);
  });

  it('rejects a nonsensical rate', () => {
    expect(() => new FrameRateLimiter(0)).toThrow(RangeError);
    expect(() => new FrameRateLimiter(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });
});
