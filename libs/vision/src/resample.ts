import type { RgbImage } from './image';

/** A rectangle in source pixels (floating point; sampling clamps at the image border). */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Averages k×k blocks of the integer region [x0, x0 + k·w) × [y0, y0 + k·h) (clamped at the border).
 * Reads each source byte once; the cheap antialiasing step before a large shrink.
 */
function boxShrink(image: RgbImage, x0: number, y0: number, w: number, h: number, k: number): RgbImage {
  const src = image.data;
  const stride = image.width * 3;
  const lastX = image.width - 1;
  const lastY = image.height - 1;
  const out = new Uint8Array(w * h * 3);
  const inv = 1 / (k * k);
  const colOffset = new Int32Array(w * k);
  for (let i = 0; i < w * k; i++) {
    const x = x0 + i;
    colOffset[i] = (x < 0 ? 0 : x > lastX ? lastX : x) * 3;
  }
  const acc = new Float32Array(w * 3);
  for (let oy = 0; oy < h; oy++) {
    acc.fill(0);
    for (let dy = 0; dy < k; dy++) {
      const y = y0 + oy * k + dy;
      const row = (y < 0 ? 0 : y > lastY ? lastY : y) * stride;
      for (let ox = 0, c = 0; ox < w; ox++) {
        let r = 0;
        let g = 0;
        let b = 0;
        for (let dx = 0; dx < k; dx++, c++) {
          const p = row + colOffset[c];
          r += src[p];
          g += src[p + 1];
          b += src[p + 2];
        }
        const a = ox * 3;
        acc[a] += r;
        acc[a + 1] += g;
        acc[a + 2] += b;
      }
    }
    const o = oy * w * 3;
    for (let i = 0; i < w * 3; i++) out[o + i] = acc[i] * inv + 0.5;
  }
  return { data: out, width: w, height: h };
}

/** Per output column of a bilinear resize of `rect`: the two source pixel offsets (RGB bytes) and the weight. */
export interface BilinearColumns {
  x0: Int32Array;
  x1: Int32Array;
  ax: Float32Array;
}

/** Column taps with pixel centres at +0.5 (OpenCV's INTER_LINEAR), clamped to [0, lastX]. */
export function bilinearColumns(rect: Rect, outWidth: number, lastX: number): BilinearColumns {
  const sx = rect.width / outWidth;
  const x0 = new Int32Array(outWidth);
  const x1 = new Int32Array(outWidth);
  const ax = new Float32Array(outWidth);
  for (let i = 0; i < outWidth; i++) {
    let x = rect.x + (i + 0.5) * sx - 0.5;
    x = x < 0 ? 0 : x > lastX ? lastX : x;
    const f = Math.floor(x);
    x0[i] = f * 3;
    x1[i] = Math.min(f + 1, lastX) * 3;
    ax[i] = x - f;
  }
  return { x0, x1, ax };
}

/**
 * Bilinear resize of `rect` (pixel centres at +0.5, as OpenCV's INTER_LINEAR), clamped borders.
 * Always reads 8-bit data so the hot loop stays monomorphic.
 */
function bilinear(src: RgbImage, rect: Rect, outWidth: number, outHeight: number): Float32Array {
  const data = src.data;
  const stride = src.width * 3;
  const lastX = src.width - 1;
  const lastY = src.height - 1;
  const sy = rect.height / outHeight;
  const { x0, x1, ax } = bilinearColumns(rect, outWidth, lastX);
  const out = new Float32Array(outWidth * outHeight * 3);
  for (let j = 0, o = 0; j < outHeight; j++) {
    let y = rect.y + (j + 0.5) * sy - 0.5;
    y = y < 0 ? 0 : y > lastY ? lastY : y;
    const fy = Math.floor(y);
    const ay = y - fy;
    const r0 = fy * stride;
    const r1 = Math.min(fy + 1, lastY) * stride;
    for (let i = 0; i < outWidth; i++, o += 3) {
      const a = ax[i];
      const w00 = (1 - a) * (1 - ay);
      const w01 = a * (1 - ay);
      const w10 = (1 - a) * ay;
      const w11 = a * ay;
      const p00 = r0 + x0[i];
      const p01 = r0 + x1[i];
      const p10 = r1 + x0[i];
      const p11 = r1 + x1[i];
      out[o] = w00 * data[p00] + w01 * data[p01] + w10 * data[p10] + w11 * data[p11];
      out[o + 1] = w00 * data[p00 + 1] + w01 * data[p01 + 1] + w10 * data[p10 + 1] + w11 * data[p11 + 1];
      out[o + 2] = w00 * data[p00 + 2] + w01 * data[p01 + 2] + w10 * data[p10 + 2] + w11 * data[p11 + 2];
    }
  }
  return out;
}

/**
 * The source to sample bilinearly for a resize of `rect` to outWidth×outHeight: the image itself
 * while the shrink is under 4× (as OpenCV's INTER_LINEAR, which the reference preprocessing used),
 * otherwise a k×k block average of the region first, so a 1080p frame or a big face is not
 * aliased, leaving bilinear a shrink of 2–4×.
 */
export function samplingSource(image: RgbImage, rect: Rect, outWidth: number, outHeight: number): { source: RgbImage; rect: Rect } {
  const k = Math.floor(Math.min(rect.width / outWidth, rect.height / outHeight) / 2);
  if (k < 2) return { source: image, rect };
  const bx = Math.floor(rect.x);
  const by = Math.floor(rect.y);
  const bw = Math.ceil((rect.x + rect.width - bx) / k);
  const bh = Math.ceil((rect.y + rect.height - by) / k);
  return {
    source: boxShrink(image, bx, by, bw, bh, k),
    rect: { x: (rect.x - bx) / k, y: (rect.y - by) / k, width: rect.width / k, height: rect.height / k },
  };
}

/** Resamples `rect` of an RGB image to `outWidth`×`outHeight` interleaved RGB floats (0..255). */
export function resampleRgb(image: RgbImage, rect: Rect, outWidth: number, outHeight: number): Float32Array {
  const { source, rect: r } = samplingSource(image, rect, outWidth, outHeight);
  return bilinear(source, r, outWidth, outHeight);
}

/** A single-channel float image. */
interface GrayPlane {
  data: Float32Array;
  width: number;
  height: number;
}

/** Luma (Rec. 601) of each k×k block of the integer region, as `boxShrink` but one channel. */
function grayBoxShrink(image: RgbImage, x0: number, y0: number, w: number, h: number, k: number): GrayPlane {
  const src = image.data;
  const stride = image.width * 3;
  const lastX = image.width - 1;
  const lastY = image.height - 1;
  const out = new Float32Array(w * h);
  const inv = 1 / (k * k);
  const colOffset = new Int32Array(w * k);
  for (let i = 0; i < w * k; i++) {
    const x = x0 + i;
    colOffset[i] = (x < 0 ? 0 : x > lastX ? lastX : x) * 3;
  }
  for (let oy = 0; oy < h; oy++) {
    const o = oy * w;
    for (let dy = 0; dy < k; dy++) {
      const y = y0 + oy * k + dy;
      const row = (y < 0 ? 0 : y > lastY ? lastY : y) * stride;
      for (let ox = 0, c = 0; ox < w; ox++) {
        let r = 0;
        let g = 0;
        let b = 0;
        for (let dx = 0; dx < k; dx++, c++) {
          const p = row + colOffset[c];
          r += src[p];
          g += src[p + 1];
          b += src[p + 2];
        }
        out[o + ox] += 0.299 * r + 0.587 * g + 0.114 * b;
      }
    }
    for (let ox = 0; ox < w; ox++) out[o + ox] *= inv;
  }
  return { data: out, width: w, height: h };
}

/** Bilinear luma sample of `rect` straight from RGB (no shrink step). */
function bilinearGrayFromRgb(image: RgbImage, rect: Rect, outWidth: number, outHeight: number): Float32Array {
  const rgb = bilinear(image, rect, outWidth, outHeight);
  const out = new Float32Array(outWidth * outHeight);
  for (let i = 0, p = 0; i < out.length; i++, p += 3) out[i] = 0.299 * rgb[p] + 0.587 * rgb[p + 1] + 0.114 * rgb[p + 2];
  return out;
}

function bilinearGray(src: GrayPlane, rect: Rect, outWidth: number, outHeight: number): Float32Array {
  const data = src.data;
  const lastX = src.width - 1;
  const lastY = src.height - 1;
  const sx = rect.width / outWidth;
  const sy = rect.height / outHeight;
  const out = new Float32Array(outWidth * outHeight);
  for (let j = 0, o = 0; j < outHeight; j++) {
    let y = rect.y + (j + 0.5) * sy - 0.5;
    y = y < 0 ? 0 : y > lastY ? lastY : y;
    const fy = Math.floor(y);
    const ay = y - fy;
    const r0 = fy * src.width;
    const r1 = Math.min(fy + 1, lastY) * src.width;
    for (let i = 0; i < outWidth; i++, o++) {
      let x = rect.x + (i + 0.5) * sx - 0.5;
      x = x < 0 ? 0 : x > lastX ? lastX : x;
      const fx = Math.floor(x);
      const ax = x - fx;
      const fx1 = Math.min(fx + 1, lastX);
      out[o] =
        (1 - ay) * ((1 - ax) * data[r0 + fx] + ax * data[r0 + fx1]) + ay * ((1 - ax) * data[r1 + fx] + ax * data[r1 + fx1]);
    }
  }
  return out;
}

/**
 * Resamples `rect` of an RGB image to an outWidth×outHeight luma plane (0..255): bilinear alone
 * while the shrink is under `2 × maxBilinearShrink`, otherwise a k×k block average first (reading
 * every source pixel of the region, which is what costs). The landmark crop passes 4: measured on
 * the photo set, its landmarks were as good from plain bilinear up to a 6× shrink.
 */
export function resampleGray(
  image: RgbImage,
  rect: Rect,
  outWidth: number,
  outHeight: number,
  maxBilinearShrink = 2,
): Float32Array {
  const k = Math.floor(Math.min(rect.width / outWidth, rect.height / outHeight) / maxBilinearShrink);
  if (k < 2) return bilinearGrayFromRgb(image, rect, outWidth, outHeight);
  const bx = Math.floor(rect.x);
  const by = Math.floor(rect.y);
  const bw = Math.ceil((rect.x + rect.width - bx) / k);
  const bh = Math.ceil((rect.y + rect.height - by) / k);
  return bilinearGray(
    grayBoxShrink(image, bx, by, bw, bh, k),
    { x: (rect.x - bx) / k, y: (rect.y - by) / k, width: rect.width / k, height: rect.height / k },
    outWidth,
    outHeight,
  );
}
