import { iou, nonMaxSuppression } from './nms';

const box = (x1: number, y1: number, x2: number, y2: number) => ({ x1, y1, x2, y2 });

describe('iou', () => {
  it('is 1 for identical boxes, 0 for disjoint ones, and the overlap ratio otherwise', () => {
    expect(iou(box(0, 0, 10, 10), box(0, 0, 10, 10))).toBe(1);
    expect(iou(box(0, 0, 10, 10), box(20, 20, 30, 30))).toBe(0);
    expect(iou(box(0, 0, 10, 10), box(10, 0, 20, 10))).toBe(0); // touching edges
    // 5×10 overlap, union 150.
    expect(iou(box(0, 0, 10, 10), box(5, 0, 15, 10))).toBeCloseTo(50 / 150, 12);
  });
});

describe('nonMaxSuppression', () => {
  it('keeps the best box of each cluster, best first', () => {
    const boxes = [box(0, 0, 10, 10), box(1, 1, 11, 11), box(50, 50, 60, 60), box(51, 50, 61, 60), box(0, 0, 10, 10.5)];
    const scores = [0.8, 0.95, 0.7, 0.9, 0.85];
    expect(nonMaxSuppression(boxes, scores, 0.4)).toEqual([1, 3]);
  });

  it('suppresses only above the IoU threshold', () => {
    const boxes = [box(0, 0, 10, 10), box(5, 0, 15, 10)]; // IoU 1/3
    expect(nonMaxSuppression(boxes, [0.9, 0.8], 0.4)).toEqual([0, 1]);
    expect(nonMaxSuppression(boxes, [0.9, 0.8], 0.3)).toEqual([0]);
  });

  it('drops degenerate boxes and honours maxKeep', () => {
    const boxes = [box(0, 0, 0, 10), box(20, 0, 30, 10), box(40, 0, 50, 10), box(60, 0, 70, 10)];
    expect(nonMaxSuppression(boxes, [0.99, 0.5, 0.7, 0.6], 0.4)).toEqual([2, 3, 1]);
    expect(nonMaxSuppression(boxes, [0.99, 0.5, 0.7, 0.6], 0.4, 2)).toEqual([2, 3]);
    expect(nonMaxSuppression([], [], 0.4)).toEqual([]);
  });
});
