import type { RgbImage } from '@edgeloop/vision';
import { PpmStreamSplitter } from './ppm-stream';

const ppm = (width: number, height: number, fill: (i: number) => number) =>
  Buffer.concat([Buffer.from(`P6\n${width} ${height}\n255\n`), Buffer.from(Array.from({ length: width * height * 3 }, (_, i) => fill(i) & 0xff))]);

describe('PpmStreamSplitter', () => {
  it('splits concatenated PPM frames into RGB images, whatever the chunk boundaries', () => {
    const stream = Buffer.concat([ppm(4, 3, (i) => i), ppm(2, 5, (i) => 200 - i), ppm(4, 3, (i) => i * 7)]);
    for (const chunkSize of [1, 2, 7, 13, 36, stream.length]) {
      const frames: RgbImage[] = [];
      const splitter = new PpmStreamSplitter((image) => frames.push(image));
      for (let at = 0; at < stream.length; at += chunkSize) splitter.write(stream.subarray(at, at + chunkSize));
      expect(frames.map((f) => [f.width, f.height])).toEqual([
        [4, 3],
        [2, 5],
        [4, 3],
      ]);
      expect(Buffer.from(frames[0]!.data).equals(ppm(4, 3, (i) => i).subarray(-36))).toBe(true);
      expect(Buffer.from(frames[1]!.data).equals(ppm(2, 5, (i) => 200 - i).subarray(-30))).toBe(true);
      expect(Buffer.from(frames[2]!.data).equals(ppm(4, 3, (i) => i * 7).subarray(-36))).toBe(true);
    }
  });

  it('holds a frame back until its last byte came', () => {
    const frames: RgbImage[] = [];
    const splitter = new PpmStreamSplitter((image) => frames.push(image));
    const one = ppm(3, 3, (i) => i);
    splitter.write(one.subarray(0, one.length - 1));
    expect(frames).toHaveLength(0);
    splitter.write(one.subarray(one.length - 1));
    expect(frames).toHaveLength(1);
  });

  it('refuses what is not an 8-bit RGB PPM, and a frame over the pixel limit', () => {
    const splitter = () => new PpmStreamSplitter(() => undefined);
    expect(() => splitter().write(Buffer.from('\xff\xd8\xff\xe0 JPEG bytes', 'latin1'))).toThrow(/not an 8-bit RGB PPM frame header/);
    expect(() => splitter().write(Buffer.from('P5\n4 4\n255\n'))).toThrow(/not an 8-bit RGB PPM/);
    expect(() => splitter().write(Buffer.from('P6\n4 4\n65535\n'))).toThrow(/not an 8-bit RGB PPM/);
    expect(() => splitter().write(Buffer.from('P6\n5000 5000\n255\n'))).toThrow(/over the limit/);
    expect(() => splitter().write(Buffer.from(`P6${' '.repeat(80)}`))).toThrow(/not an 8-bit RGB PPM frame header/);
  });
});
