import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { crc32, deflateSync } from 'node:zlib';
import { InvalidImageError } from './errors';
import { decodeAhead, decodeImage, MAX_INPUT_PIXELS, openImage, readImageHeader } from './image';

/** A PNG whose header claims `width`×`height` (8-bit RGB) with a few bytes of pixel data: a bomb's header. */
function pngHeaderClaiming(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // bit depth 8, colour type RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(1 + width * 3))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

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

describe('pixel limits on untrusted images', () => {
  const square = (side: number) =>
    sharp({ create: { width: side, height: side, channels: 3, background: '#406080' } })
      .png()
      .toBuffer();

  it('refuses a decompression bomb from its header, before decoding, with IMAGE_TOO_LARGE', async () => {
    const bomb = pngHeaderClaiming(16000, 16000);
    await expect(readImageHeader(bomb)).rejects.toMatchObject({
      name: 'InvalidImageError',
      code: 'IMAGE_TOO_LARGE',
      message: `the image is 16000×16000 (256000000 pixels), over the limit of ${MAX_INPUT_PIXELS} pixels`,
    });
    // The default decode refuses it the same way (the pixel data is only a row: decoding would fail otherwise).
    await expect(decodeImage(bomb)).rejects.toMatchObject({ code: 'IMAGE_TOO_LARGE' });
  });

  it('applies a caller-given limit to decodeImage and openImage', async () => {
    const png = await square(300);
    await expect(decodeImage(png, { maxPixels: 256 * 256 })).rejects.toMatchObject({ code: 'IMAGE_TOO_LARGE' });
    expect((await decodeImage(png, { maxPixels: 300 * 300 })).width).toBe(300);
    await expect(openImage(png, { maxPixels: 100 }).raw().toBuffer()).rejects.toThrow(/pixel limit/);
    expect((await openImage(png).raw().toBuffer({ resolveWithObject: true })).info.width).toBe(300);
  });

  it('reads format and dimensions from the header, and refuses bytes with no image header', async () => {
    expect(await readImageHeader(await square(40))).toEqual({ format: 'png', width: 40, height: 40 });
    expect(await readImageHeader(pngHeaderClaiming(4096, 4096))).toEqual({ format: 'png', width: 4096, height: 4096 });
    await expect(readImageHeader(Buffer.from('no image here'))).rejects.toMatchObject({ code: 'IMAGE_UNDECODABLE' });
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

describe('openImage on decoded RGB (a frame from ffmpeg)', () => {
  it('reads the pixels as they are, for a crop encoded to JPEG', async () => {
    const width = 40;
    const height = 30;
    const data = new Uint8Array(width * height * 3);
    // left half red, right half blue
    for (let i = 0; i < width * height; i++) data.set(i % width < width / 2 ? [250, 0, 0] : [0, 0, 250], i * 3);
    const crop = await openImage({ data, width, height }).extract({ left: 24, top: 5, width: 10, height: 10 }).jpeg().toBuffer();
    const back = await sharp(crop).raw().toBuffer({ resolveWithObject: true });
    expect([back.info.width, back.info.height]).toEqual([10, 10]);
    expect(back.data[2]).toBeGreaterThan(200); // blue
    expect(back.data[0]).toBeLessThan(40);
  });

  it('keeps the pixel limit for decoded frames too', async () => {
    const image = { data: new Uint8Array(64 * 64 * 3), width: 64, height: 64 };
    await expect(openImage(image, { maxPixels: 100 }).jpeg().toBuffer()).rejects.toThrow(/pixel limit/i);
  });
});
