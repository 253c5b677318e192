import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { InvalidImageError } from './errors';
import { decodeAhead, decodeImage } from './image';

describe('decodeImage', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'vision-image-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('decodes to interleaved RGB, expanding grey and dropping alpha', async () => {
    const grey = await sharp({ create: { width: 5, height: 4, channels: 3, background: { r: 90, g: 90, b: 90 } } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    const img = await decodeImage(grey);
    expect([img.width, img.height, img.data.length]).toEqual([5, 4, 60]);
    expect(img.data[0]).toBe(img.data[1]);

    const rgba = await sharp({ create: { width: 3, height: 2, channels: 4, background: { r: 255, g: 10, b: 20, alpha: 0.5 } } })
      .png()
      .toBuffer();
    const file = path.join(dir, 'rgba.png');
    writeFileSync(file, rgba);
    const fromFile = await decodeImage(file);
    expect(fromFile.data.length).toBe(3 * 2 * 3);
    expect(Array.from(fromFile.data.subarray(0, 3))).toEqual([255, 10, 20]);
  });

  it('turns undecodable bytes, empty input and a missing file into InvalidImageError', async () => {
    const bad = path.join(dir, 'bad.jpg');
    writeFileSync(bad, 'this is not a jpeg');
    await expect(decodeImage(bad)).rejects.toMatchObject({ name: 'InvalidImageError', code: 'IMAGE_UNDECODABLE' });
    await expect(decodeImage(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0]))).rejects.toBeInstanceOf(InvalidImageError);
    await expect(decodeImage(Buffer.alloc(0))).rejects.toMatchObject({ code: 'IMAGE_UNDECODABLE', message: 'empty image' });
    const missing = path.join(dir, 'nope.jpg');
    await expect(decodeImage(missing)).rejects.toMatchObject({
      code: 'IMAGE_NOT_FOUND',
      message: `no such file: ${missing}`,
    });
  });

  it('rejects a truncated JPEG', async () => {
    const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } })
      .jpeg()
      .toBuffer();
    await expect(decodeImage(jpeg.subarray(0, jpeg.length >> 1))).rejects.toMatchObject({ code: 'IMAGE_UNDECODABLE' });
  });
});

describe('decodeAhead', () => {
  it('yields every frame in order, with undecodable ones as errors', async () => {
    const png = (v: number) =>
      sharp({ create: { width: 4, height: 4, channels: 3, background: { r: v, g: v, b: v } } })
        .png()
        .toBuffer();
    const inputs = [await png(10), Buffer.from('junk'), await png(200)];
    async function* source() {
      yield* inputs;
    }
    const frames = [];
    for await (const frame of decodeAhead(source())) frames.push(frame);
    expect(frames.map((f) => f.input)).toEqual(inputs);
    expect(frames[0].image?.data[0]).toBe(10);
    expect(frames[1].error).toBeInstanceOf(InvalidImageError);
    expect(frames[2].image?.data[0]).toBe(200);
    const none = [];
    for await (const frame of decodeAhead([])) none.push(frame);
    expect(none).toEqual([]);
  });
});
