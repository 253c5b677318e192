import {
  addEmbedding,
  addMeanEmbedding,
  CentroidAccumulatorSchema,
  centroidMean,
  centroidShift,
  cosineDistance,
  createCentroid,
  mergeCentroids,
} from './centroid';
import { normalize, unitVector } from './testing/simulate';
import { seededNormal } from './testing/random';

const basis = (index: number, dimension = 512) => Array.from({ length: dimension }, (_, i) => (i === index ? 1 : 0));

function noisyAround(direction: number[], count: number, seed: number): number[][] {
  const normal = seededNormal(seed);
  return Array.from({ length: count }, () => {
    return normalize(direction.map((x) => x + 0.05 * normal()));
  });
}

describe('embedding centroids', () => {
  it('shows no shift for the same set of embeddings, in any grouping', () => {
    const embeddings = noisyAround(unitVector(1), 200, 2);
    const whole = embeddings.reduce(addEmbedding, createCentroid());
    const halves = mergeCentroids(
      embeddings.slice(0, 80).reduce(addEmbedding, createCentroid()),
      embeddings.slice(80).reduce(addEmbedding, createCentroid()),
    );
    expect(halves.count).toBe(200);
    expect(centroidShift(whole, halves)).toBeCloseTo(0, 12);
    expect(centroidShift(whole, whole)).toBeCloseTo(0, 12);
  });

  it('shows a shift of 1 for orthogonal sets and about 1 for two unrelated people', () => {
    const a = noisyAround(basis(0), 50, 3).reduce(addEmbedding, createCentroid());
    const b = [basis(1), basis(1)].reduce(addEmbedding, createCentroid());
    const c = [basis(0)].reduce(addEmbedding, createCentroid());
    expect(centroidShift(c, b)).toBeCloseTo(1, 12);
    const opposite = [basis(0).map((x) => -x)].reduce(addEmbedding, createCentroid());
    expect(centroidShift(c, opposite)).toBeCloseTo(2, 12);
    const person = noisyAround(unitVector(10), 100, 4).reduce(addEmbedding, createCentroid());
    const stranger = noisyAround(unitVector(11), 100, 5).reduce(addEmbedding, createCentroid());
    expect(centroidShift(person, stranger)).toBeGreaterThan(0.8);
    expect(centroidShift(a, a)).toBeCloseTo(0, 12);
  });

  it('adds batch means weighted by their counts', () => {
    const embeddings = noisyAround(unitVector(6), 30, 7);
    const batchMean = (list: number[][]) => list[0].map((_, k) => list.reduce((s, v) => s + v[k], 0) / list.length);
    const fromBatches = addMeanEmbedding(addMeanEmbedding(createCentroid(), batchMean(embeddings.slice(0, 10)), 10), batchMean(embeddings.slice(10)), 20);
    const fromEmbeddings = embeddings.reduce(addEmbedding, createCentroid());
    expect(fromBatches.count).toBe(30);
    centroidMean(fromBatches)!.forEach((x, k) => expect(x).toBeCloseTo(centroidMean(fromEmbeddings)![k], 12));
  });

  it('round-trips through JSON, and refuses other dimensions and empty centroids', () => {
    const centroid = noisyAround(unitVector(8), 5, 9).reduce(addEmbedding, createCentroid());
    expect(CentroidAccumulatorSchema.parse(JSON.parse(JSON.stringify(centroid)))).toEqual(centroid);
    expect(CentroidAccumulatorSchema.safeParse({ ...centroid, sum: [1, 2] }).success).toBe(false);
    expect(() => addEmbedding(createCentroid(), [1, 2, 3])).toThrow(expect.objectContaining({ code: 'DIMENSION_MISMATCH' }));
    expect(() => mergeCentroids(createCentroid(3), createCentroid(4))).toThrow(/4-d/);
    expect(centroidShift(createCentroid(), centroid)).toBeNull();
    expect(centroidMean(createCentroid())).toBeNull();
    expect(cosineDistance([0, 0], [1, 0])).toBeNull();
  });
});
