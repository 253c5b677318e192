import type { RgbImage } from './image';
import type { Affine } from './similarity';

export type ChannelOrder = 'rgb' | 'bgr';

export interface PlanarNormalisation {
  order: ChannelOrder;
  /** Output = (sample − mean) · scale. */
  mean: number;
  scale: number;
}

/**
 * Warps an RGB image into a planar (channel-first) float tensor of outWidth×outHeight with bilinear
 * sampling. `inverse` maps OUTPUT pixel coordinates to SOURCE coordinates. Samples outside the image
 * are 0 (before normalisation), as OpenCV's warpAffine with a constant border.
 *
 * The hot loop steps the source coordinate incrementally along each row and takes a branch-light
 * path when all four neighbours are inside the image.
 */
export function warpAffineToPlanar(
  image: RgbImage,
  inverse: Affine,
  outWidth: number,
  outHeight: number,
  norm: PlanarNormalisation,
  out: Float32Array = new Float32Array(3 * outWidth * outHeight),
): Float32Array {
  const src = image.data;
  const w = image.width;
  const h = image.height;
  const stride = w * 3;
  const plane = outWidth * outHeight;
  const [m0, m1, m2, m3, m4, m5] = inverse;
  // Plane offsets for source channels R, G, B.
  const oR = norm.order === 'rgb' ? 0 : 2 * plane;
  const oG = plane;
  const oB = norm.order === 'rgb' ? 2 * plane : 0;
  const { mean, scale } = norm;
  const zero = -mean * scale;

  for (let y = 0; y < outHeight; y++) {
    let sx = m1 * y + m2;
    let sy = m4 * y + m5;
    let o = y * outWidth;
    for (let x = 0; x < outWidth; x++, o++, sx += m0, sy += m3) {
      const fx = Math.floor(sx);
      const fy = Math.floor(sy);
      const ax = sx - fx;
      const ay = sy - fy;
      let r: number;
      let g: number;
      let b: number;
      if (fx >= 0 && fy >= 0 && fx < w - 1 && fy < h - 1) {
        const p = fy * stride + fx * 3;
        const q = p + stride;
        const w00 = (1 - ax) * (1 - ay);
        const w01 = ax * (1 - ay);
        const w10 = (1 - ax) * ay;
        const w11 = ax * ay;
        r = w00 * src[p] + w01 * src[p + 3] + w10 * src[q] + w11 * src[q + 3];
        g = w00 * src[p + 1] + w01 * src[p + 4] + w10 * src[q + 1] + w11 * src[q + 4];
        b = w00 * src[p + 2] + w01 * src[p + 5] + w10 * src[q + 2] + w11 * src[q + 5];
      } else if (fx < -1 || fy < -1 || fx >= w || fy >= h) {
        out[oR + o] = zero;
        out[oG + o] = zero;
        out[oB + o] = zero;
        continue;
      } else {
        r = g = b = 0;
        for (let k = 0; k < 4; k++) {
          const cx = fx + (k & 1);
          const cy = fy + (k >> 1);
          if (cx < 0 || cy < 0 || cx >= w || cy >= h) continue;
          const wk = ((k & 1) === 1 ? ax : 1 - ax) * ((k >> 1) === 1 ? ay : 1 - ay);
          const p = cy * stride + cx * 3;
          r += wk * src[p];
          g += wk * src[p + 1];
          b += wk * src[p + 2];
        }
      }
      out[oR + o] = (r - mean) * scale;
      out[oG + o] = (g - mean) * scale;
      out[oB + o] = (b - mean) * scale;
    }
  }
  return out;
}

/** The same warp to an interleaved 8-bit RGB image (an aligned face crop for storage or display). */
export function warpAffineRgb(image: RgbImage, inverse: Affine, outWidth: number, outHeight: number): RgbImage {
  const planar = warpAffineToPlanar(image, inverse, outWidth, outHeight, { order: 'rgb', mean: 0, scale: 1 });
  const plane = outWidth * outHeight;
  const data = new Uint8Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    data[i * 3] = Math.round(planar[i]);
    data[i * 3 + 1] = Math.round(planar[plane + i]);
    data[i * 3 + 2] = Math.round(planar[2 * plane + i]);
  }
  return { data, width: outWidth, height: outHeight };
}
