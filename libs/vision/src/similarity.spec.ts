import { REFERENCE_POINTS_112 } from './embedder';
import { applyAffine, estimateSimilarity, invertAffine, type Affine, type Point } from './similarity';

function similarity(scale: number, angle: number, tx: number, ty: number): Affine {
  const c = scale * Math.cos(angle);
  const s = scale * Math.sin(angle);
  return [c, -s, tx, s, c, ty];
}

describe('estimateSimilarity', () => {
  it('recovers a known rotation, scale and translation exactly', () => {
    const truth = similarity(0.37, 0.42, 31.5, -12.25);
    const from: Point[] = [
      [120, 80],
      [210, 95],
      [160, 140],
      [125, 190],
      [200, 200],
    ];
    const to = from.map((p) => applyAffine(truth, p));
    const fitted = estimateSimilarity(from, to);
    fitted.forEach((v, i) => expect(v).toBeCloseTo(truth[i], 10));
  });

  it('is the least-squares fit under noise (residual no larger than the true transform’s)', () => {
    const truth = similarity(1.8, -0.3, 5, 7);
    const from: Point[] = REFERENCE_POINTS_112.map(([x, y]) => [x, y]);
    const noise = [
      [0.8, -0.5],
      [-0.6, 0.4],
      [0.3, 0.9],
      [-0.9, -0.2],
      [0.4, -0.6],
    ];
    const to = from.map((p, i) => {
      const [x, y] = applyAffine(truth, p);
      return [x + noise[i][0], y + noise[i][1]] as Point;
    });
    const residual = (m: Affine) =>
      from.reduce((sum, p, i) => {
        const [x, y] = applyAffine(m, p);
        return sum + (x - to[i][0]) ** 2 + (y - to[i][1]) ** 2;
      }, 0);
    const fitted = estimateSimilarity(from, to);
    expect(residual(fitted)).toBeLessThanOrEqual(residual(truth));
    // Still a similarity: a = d, b = −c.
    expect(fitted[0]).toBeCloseTo(fitted[4], 12);
    expect(fitted[1]).toBeCloseTo(-fitted[3], 12);
    expect(Math.hypot(fitted[0], fitted[3])).toBeCloseTo(1.8, 1);
  });

  it('never returns a reflection, even for mirrored points', () => {
    const from: Point[] = [
      [0, 0],
      [10, 0],
      [0, 10],
    ];
    const mirrored: Point[] = from.map(([x, y]) => [-x, y]);
    const m = estimateSimilarity(from, mirrored);
    expect(m[0] * m[4] - m[1] * m[3]).toBeGreaterThanOrEqual(0);
  });

  it('rejects unusable input', () => {
    expect(() => estimateSimilarity([[1, 1]], [[2, 2]])).toThrow(RangeError);
    expect(() =>
      estimateSimilarity(
        [
          [1, 1],
          [1, 1],
        ],
        [
          [0, 0],
          [5, 5],
        ],
      ),
    ).toThrow(/identical/);
  });
});

describe('invertAffine', () => {
  it('composes with the original to the identity', () => {
    const m = similarity(2.5, 1.1, -40, 17);
    const inv = invertAffine(m);
    for (const p of [
      [0, 0],
      [13, -7],
      [112, 112],
    ] as Point[]) {
      const [x, y] = applyAffine(inv, applyAffine(m, p));
      expect(x).toBeCloseTo(p[0], 10);
      expect(y).toBeCloseTo(p[1], 10);
    }
  });
});
