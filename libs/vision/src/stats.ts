/** Input statistics of a frame, aggregated by the cloud for drift detection. */
export interface FrameStats {
  width: number;
  height: number;
  /** Mean luma, 0..255. */
  brightness: number;
  /** Standard deviation of luma. */
  contrast: number;
  /** Variance of the 4-neighbour Laplacian of luma on the 320×240 downscaled frame (low = blurred). */
  sharpness: number;
}

/**
 * Computes the statistics on the luma of the downscaled frame (the detector's 320×240 input), so
 * the cost does not grow with the camera resolution.
 */
export function frameStats(
  luma: Float32Array,
  width: number,
  height: number,
  original: { width: number; height: number },
): FrameStats {
  const n = width * height;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const y = luma[i];
    sum += y;
    sumSq += y * y;
  }
  const mean = sum / n;
  const variance = Math.max(0, sumSq / n - mean * mean);

  let lapSum = 0;
  let lapSumSq = 0;
  let count = 0;
  // Sampled at every other pixel of every other row: the same estimate of the variance for a
  // quarter of the work.
  for (let y = 1; y < height - 1; y += 2) {
    const row = y * width;
    for (let x = 1; x < width - 1; x += 2) {
      const i = row + x;
      const lap = luma[i - 1] + luma[i + 1] + luma[i - width] + luma[i + width] - 4 * luma[i];
      lapSum += lap;
      lapSumSq += lap * lap;
      count++;
    }
  }
  const lapMean = count > 0 ? lapSum / count : 0;
  const sharpness = count > 0 ? Math.max(0, lapSumSq / count - lapMean * lapMean) : 0;
  return {
    width: original.width,
    height: original.height,
    brightness: mean,
    contrast: Math.sqrt(variance),
    sharpness,
  };
}
