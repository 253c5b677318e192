import { prepareDetectorFrame } from './detector';
import type { RgbImage } from './image';
import { resampleRgb } from './resample';
import { frameStats } from './stats';

/** A 640×480 checkerboard of 8-pixel squares between two grey levels. */
function checker(lo: number, hi: number, blur = false): RgbImage {
  const width = 640;
  const height = 480;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      let v = ((x >> 3) + (y >> 3)) % 2 === 0 ? lo : hi;
      if (blur) {
        // Smooth ramp instead of hard edges.
        const t = (Math.sin((x / 8) * Math.PI) * Math.sin((y / 8) * Math.PI) + 1) / 2;
        v = lo + (hi - lo) * t;
      }
      data.fill(Math.round(v), (y * width + x) * 3, (y * width + x) * 3 + 3);
    }
  return { data, width, height };
}

function statsOf(image: RgbImage) {
  const frame = prepareDetectorFrame(image, 'rgb');
  return frameStats(frame.luma, frame.width, frame.height, image);
}

describe('frameStats', () => {
  it('reports brightness, contrast and sharpness that move with the image', () => {
    const normal = statsOf(checker(60, 180));
    expect(normal.width).toBe(640);
    expect(normal.brightness).toBeCloseTo(120, 0);
    expect(normal.contrast).toBeGreaterThan(50);

    const dark = statsOf(checker(10, 50));
    expect(dark.brightness).toBeLessThan(normal.brightness / 2);
    expect(dark.contrast).toBeLessThan(normal.contrast / 2);

    const flat = statsOf(checker(100, 100));
    expect(flat.contrast).toBeCloseTo(0, 3);
    expect(flat.sharpness).toBeCloseTo(0, 3);

    const soft = statsOf(checker(60, 180, true));
    expect(soft.sharpness).toBeLessThan(normal.sharpness / 2);
  });
});

describe('resampleRgb', () => {
  it('keeps a uniform colour and averages a fine pattern when shrinking a lot', () => {
    const img = checker(0, 200);
    const out = resampleRgb(img, { x: 0, y: 0, width: 640, height: 480 }, 40, 30); // 16×: 8-px squares average out
    for (const v of out) expect(v).toBeCloseTo(100, 0);
    const small = resampleRgb({ data: new Uint8Array(12).fill(77), width: 2, height: 2 }, { x: 0, y: 0, width: 2, height: 2 }, 5, 5);
    for (const v of small) expect(v).toBeCloseTo(77, 4);
  });
});
