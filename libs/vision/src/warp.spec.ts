import type { RgbImage } from './image';
import type { Affine } from './similarity';
import { warpAffineRgb, warpAffineToPlanar } from './warp';

/** 4×3 image whose pixel (x, y) is RGB (10x + y, 100 + y, 200 − x). */
function gradient(width = 4, height = 3): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) data.set([10 * x + y, 100 + y, 200 - x], (y * width + x) * 3);
  return { data, width, height };
}

const identity: Affine = [1, 0, 0, 0, 1, 0];

describe('warpAffineRgb', () => {
  it('copies the image under the identity transform', () => {
    const img = gradient();
    expect(Array.from(warpAffineRgb(img, identity, 4, 3).data)).toEqual(Array.from(img.data));
  });

  it('interpolates bilinearly between pixels', () => {
    const img = gradient();
    // Output (0,0) samples source (0.5, 0.5): mean of the four top-left pixels.
    const out = warpAffineRgb(img, [1, 0, 0.5, 0, 1, 0.5], 1, 1);
    expect(Array.from(out.data)).toEqual([Math.round((0 + 10 + 1 + 11) / 4), Math.round(100.5), Math.round(199.5)]);
  });

  it('applies scale and translation (a 2× zoom-out picks every other pixel)', () => {
    const img = gradient(8, 6);
    const out = warpAffineRgb(img, [2, 0, 1, 0, 2, 1], 3, 2);
    for (let y = 0; y < 2; y++)
      for (let x = 0; x < 3; x++) {
        const sx = 2 * x + 1;
        const sy = 2 * y + 1;
        expect(Array.from(out.data.subarray((y * 3 + x) * 3, (y * 3 + x) * 3 + 3))).toEqual([10 * sx + sy, 100 + sy, 200 - sx]);
      }
  });

  it('fills outside the image with zero and fades across the border', () => {
    const img = gradient();
    const out = warpAffineRgb(img, [1, 0, -10, 0, 1, -10], 2, 2);
    expect(Array.from(out.data)).toEqual(new Array(12).fill(0));
    // Half a pixel left of the image: half of pixel (0, 0).
    const edge = warpAffineRgb(img, [1, 0, -0.5, 0, 1, 0], 1, 1);
    expect(Array.from(edge.data)).toEqual([0, 50, 100]);
  });
});

describe('warpAffineToPlanar', () => {
  it('writes normalised channel-first planes in the requested order', () => {
    const img = gradient();
    const rgb = warpAffineToPlanar(img, identity, 4, 3, { order: 'rgb', mean: 127, scale: 1 / 128 });
    const bgr = warpAffineToPlanar(img, identity, 4, 3, { order: 'bgr', mean: 127, scale: 1 / 128 });
    const plane = 12;
    // Pixel (2, 1): RGB (21, 101, 198).
    const i = 1 * 4 + 2;
    expect(rgb[i]).toBeCloseTo((21 - 127) / 128, 6);
    expect(rgb[plane + i]).toBeCloseTo((101 - 127) / 128, 6);
    expect(rgb[2 * plane + i]).toBeCloseTo((198 - 127) / 128, 6);
    expect(bgr[i]).toBeCloseTo((198 - 127) / 128, 6);
    expect(bgr[2 * plane + i]).toBeCloseTo((21 - 127) / 128, 6);
    // Outside the image → (0 − mean)·scale.
    const outside = warpAffineToPlanar(img, [1, 0, 100, 0, 1, 0], 1, 1, { order: 'rgb', mean: 127, scale: 1 / 128 });
    expect(Array.from(outside)).toEqual([-127 / 128, -127 / 128, -127 / 128].map(Math.fround));
  });
});
