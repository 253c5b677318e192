/** Axis-aligned box as corners (x1, y1) top-left and (x2, y2) bottom-right. */
export interface Corners {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export function iou(a: Corners, b: Corners): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy non-maximum suppression: visit boxes by descending score, keep a box unless it overlaps
 * an already kept one by more than `iouThreshold`. Returns the kept indices, best first.
 */
export function nonMaxSuppression(
  boxes: readonly Corners[],
  scores: ArrayLike<number>,
  iouThreshold: number,
  maxKeep = Infinity,
): number[] {
  const order = boxes.map((_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const kept: number[] = [];
  for (const i of order) {
    if (kept.length >= maxKeep) break;
    const box = boxes[i];
    if (!(box.x2 > box.x1 && box.y2 > box.y1)) continue;
    if (kept.every((k) => iou(boxes[k], box) <= iouThreshold)) kept.push(i);
  }
  return kept;
}
