import type { RgbImage } from '@edgeloop/vision';
import { FramePairs } from './frame-pairs';

const image = (width: number, height: number, value: number): RgbImage => ({ data: new Uint8Array(width * height * 3).fill(value), width, height });

describe('FramePairs', () => {
  it('hands on each frame with the detector image of the same position, whichever pipe was read first', () => {
    const out: RgbImage[] = [];
    const pairs = new FramePairs((frame) => out.push(frame));
    pairs.frame(image(4, 3, 1));
    pairs.frame(image(4, 3, 2));
    expect(out).toHaveLength(0);
    pairs.detectorImage(image(2, 1, 11));
    pairs.detectorImage(image(2, 1, 12));
    pairs.detectorImage(image(2, 1, 13));
    pairs.frame(image(4, 3, 3));
    expect(out.map((f) => [f.data[0], f.detectorImage?.data[0]])).toEqual([
      [1, 11],
      [2, 12],
      [3, 13],
    ]);
  });

  it('fails once one output is more than eight frames ahead of the other', () => {
    const pairs = new FramePairs(() => undefined);
    for (let i = 0; i < 8; i++) pairs.frame(image(4, 3, i));
    expect(() => pairs.frame(image(4, 3, 9))).toThrow("ffmpeg's frame and detector outputs are 9 frames apart");
  });
});
