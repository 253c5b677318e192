import { clusterUnknowns } from './cluster';
import { createRandom, randomUnitVector } from './random';
import { around } from './testing/synthetic';
import { dot } from './vectors';

const atAngle = (degrees: number) => Float32Array.from([Math.cos((degrees * Math.PI) / 180), Math.sin((degrees * Math.PI) / 180)]);

describe('clusterUnknowns', () => {
  it('turns people who keep appearing into clusters, largest first, and leaves strangers out', () => {
    const random = createRandom(21);
    const items: { id: string; embedding: Float32Array }[] = [];
    const people = [5, 4, 2].map(() => randomUnitVector(128, random));
    // Interleaved the way unknowns arrive; same-person cosine ≈ 0.8, strangers ≈ 0.
    for (let round = 0; round < 5; round++) {
      people.forEach((centre, p) => {
        if (round < [5, 4, 2][p]) items.push({ id: `p${p}-${round}`, embedding: around(centre, 0.8, random) });
      });
      items.push({ id: `s-${round}`, embedding: randomUnitVector(128, random) });
      items.push({ id: `t-${round}`, embedding: randomUnitVector(128, random) });
    }
    const clusters = clusterUnknowns(items, { threshold: 0.55, minSize: 3 });
    expect(clusters.map((c) => c.ids)).toEqual([
      ['p0-0', 'p0-1', 'p0-2', 'p0-3', 'p0-4'],
      ['p1-0', 'p1-1', 'p1-2', 'p1-3'],
    ]);
    expect(clusters[0].cohesion).toBeCloseTo(0.8, 1);
    expect(dot(clusters[0].centroid, clusters[0].centroid)).toBeCloseTo(1, 5);
    expect(dot(clusters[0].centroid, people[0])).toBeGreaterThan(0.95);
    // minSize 2 also returns the person seen twice.
    expect(clusterUnknowns(items, { minSize: 2 }).map((c) => c.ids.length)).toEqual([5, 4, 2]);
  });

  it('average linkage chains what complete linkage keeps apart', () => {
    // 0°–45°: cos 0.707; 45°–100°: cos 0.574; 0°–100°: cos −0.174.
    const items = [0, 45, 100].map((deg) => ({ id: `at-${deg}`, embedding: atAngle(deg) }));
    // Average: {0°,45°} then ({0°,45°}, 100°) at (−0.174 + 0.574) / 2 = 0.2 ≥ 0.15.
    const average = clusterUnknowns(items, { threshold: 0.15, minSize: 1, linkage: 'average' });
    expect(average.map((c) => c.ids)).toEqual([['at-0', 'at-45', 'at-100']]);
    // Mean pairwise cosine: (0.707 + 0.574 − 0.174) / 3.
    expect(average[0].cohesion).toBeCloseTo((Math.SQRT1_2 + Math.cos((55 * Math.PI) / 180) + Math.cos(Math.PI * (100 / 180))) / 3, 5);
    const complete = clusterUnknowns(items, { threshold: 0.15, minSize: 1, linkage: 'complete' });
    expect(complete.map((c) => c.ids)).toEqual([['at-0', 'at-45'], ['at-100']]);
    // Above 0.707 nothing merges.
    expect(clusterUnknowns(items, { threshold: 0.75, minSize: 1 })).toHaveLength(3);
  });

  it('clusters only the first maxItems items and handles the trivial cases', () => {
    const same = Array.from({ length: 6 }, (_, i) => ({ id: `x${i}`, embedding: atAngle(i) }));
    expect(clusterUnknowns(same, { maxItems: 4 }).map((c) => c.ids)).toEqual([['x0', 'x1', 'x2', 'x3']]);
    expect(clusterUnknowns([])).toEqual([]);
    expect(clusterUnknowns([same[0]], { minSize: 1 })).toEqual([{ ids: ['x0'], centroid: same[0].embedding, cohesion: 1 }]);
    expect(() => clusterUnknowns([same[0], { id: 'bad', embedding: new Float32Array(3) }])).toThrow(/3 values, expected 2/);
  });
});
