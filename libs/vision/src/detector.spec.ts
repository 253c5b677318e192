import { DETECTOR_INPUT_HEIGHT, DETECTOR_INPUT_WIDTH, prepareDetectorFrame } from './detector';
import type { RgbImage } from './image';

const PLANE = DETECTOR_INPUT_WIDTH * DETECTOR_INPUT_HEIGHT;

/** An image whose every byte is a different function of x, y and the channel (no flat areas to hide a resize). */
function pattern(width: number, height: number, seed: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0, p = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++, p++) data[p] = (x * (3 + c) + y * (5 + 2 * c) + seed * (c + 1)) % 256;
    }
  }
  return { data, width, height };
}

describe('prepareDetectorFrame', () => {
  it('converts a 320×240 frame without resampling: each pixel becomes (v − 127) / 128 in its channel plane, and its luma', () => {
    const image = pattern(DETECTOR_INPUT_WIDTH, DETECTOR_INPUT_HEIGHT, 7);
    const bgr = prepareDetectorFrame(image, 'bgr');
    for (const o of [0, 1, 321, 40_000, PLANE - 1]) {
      const [r, g, b] = [image.data[o * 3], image.data[o * 3 + 1], image.data[o * 3 + 2]];
      expect([bgr.tensorData[o], bgr.tensorData[PLANE + o], bgr.tensorData[2 * PLANE + o]]).toEqual([
        Math.fround((b - 127) / 128),
        Math.fround((g - 127) / 128),
        Math.fround((r - 127) / 128),
      ]);
      expect(bgr.luma[o]).toBe(Math.fround(0.299 * r + 0.587 * g + 0.114 * b));
    }
    const rgb = prepareDetectorFrame(image, 'rgb');
    expect(rgb.tensorData.subarray(0, PLANE)).toEqual(bgr.tensorData.subarray(2 * PLANE));
  });

  it('takes the detector-size image a source made for the frame instead of resizing the frame', () => {
    const frame = pattern(640, 480, 1);
    const small = pattern(DETECTOR_INPUT_WIDTH, DETECTOR_INPUT_HEIGHT, 2);
    const carried = prepareDetectorFrame({ ...frame, detectorImage: small }, 'rgb');
    const resized = prepareDetectorFrame(frame, 'rgb');
    expect(carried.tensorData).toEqual(prepareDetectorFrame(small, 'rgb').tensorData);
    expect(carried.luma).toEqual(prepareDetectorFrame(small, 'rgb').luma);
    expect(carried.tensorData).not.toEqual(resized.tensorData);
  });

  it('resizes the frame itself when the image it carries is not 320×240', () => {
    const frame = pattern(640, 480, 1);
    const resized = prepareDetectorFrame(frame, 'rgb');
    const wrong = prepareDetectorFrame({ ...frame, detectorImage: pattern(160, 120, 2) }, 'rgb');
    expect(wrong.tensorData).toEqual(resized.tensorData);
  });

  it('writes into the buffers it is given to reuse', () => {
    const first = prepareDetectorFrame(pattern(DETECTOR_INPUT_WIDTH, DETECTOR_INPUT_HEIGHT, 3), 'rgb');
    const again = prepareDetectorFrame({ ...pattern(360, 288, 4), detectorImage: pattern(DETECTOR_INPUT_WIDTH, DETECTOR_INPUT_HEIGHT, 5) }, 'rgb', first);
    expect(again.tensorData).toBe(first.tensorData);
    expect(again.luma).toBe(first.luma);
  });
});
