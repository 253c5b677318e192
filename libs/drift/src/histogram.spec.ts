import { DriftError } from './errors';
import {
  addValue,
  addValues,
  binEdges,
  binIndex,
  createHistogram,
  HistogramSchema,
  histogramTotal,
  mergeHistograms,
  quantile,
  type HistogramSpec,
} from './histogram';
import { histogramMean, histogramVariance } from './moments';
import { samples, seededNormal, seededRandom } from './testing/random';

const unit: HistogramSpec = { scale: 'linear', min: 0, max: 1, bins: 10 };
const latency: HistogramSpec = { scale: 'log', min: 0.1, max: 100_000, bins: 60 };

describe('histograms', () => {
  it('refuses specs it cannot bin', () => {
    expect(() => createHistogram({ ...unit, min: 1, max: 1 })).toThrow(DriftError);
    expect(() => createHistogram({ ...unit, bins: 0 })).toThrow(/bins/);
    expect(() => createHistogram({ scale: 'log', min: 0, max: 10, bins: 5 })).toThrow(/min > 0/);
    expect(() => createHistogram({ ...unit, max: Infinity })).toThrow(/finite/);
  });

  it('bins linear and log values, clamps the outside into the edge bins and ignores NaN', () => {
    expect(binIndex(unit, 0)).toBe(0);
    expect(binIndex(unit, 0.05)).toBe(0);
    expect(binIndex(unit, 0.15)).toBe(1);
    expect(binIndex(unit, 0.999)).toBe(9);
    expect(binIndex(unit, 1)).toBe(9);
    expect(binIndex(unit, -3)).toBe(0);
    expect(binIndex(unit, 42)).toBe(9);
    expect(binIndex(unit, Number.NaN)).toBe(-1);
    expect(binIndex(latency, 0)).toBe(0); // a stage that did not run
    expect(binIndex(latency, 1)).toBe(10); // one decade up: 10 bins a decade
    expect(binIndex(latency, 50)).toBe(26);
    expect(binEdges(latency)[10]).toBeCloseTo(1, 12);

    const h = addValues(createHistogram(unit), [0.05, 0.15, 0.15, 5, Number.NaN, -1]);
    expect(h.counts).toEqual([2, 2, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(histogramTotal(h)).toBe(5);
  });

  it('merges by adding counts and refuses different bins', () => {
    const a = addValues(createHistogram(unit), [0.1, 0.2]);
    const b = addValues(createHistogram(unit), [0.2, 0.9]);
    const merged = mergeHistograms(a, b);
    expect(merged.counts).toEqual([0, 1, 2, 0, 0, 0, 0, 0, 0, 1]);
    expect(a.counts).toEqual([0, 1, 1, 0, 0, 0, 0, 0, 0, 0]); // inputs untouched
    expect(() => mergeHistograms(a, createHistogram({ ...unit, bins: 20 }))).toThrow(expect.objectContaining({ code: 'INCOMPATIBLE_HISTOGRAMS' }));
  });

  it('round-trips through JSON and validates what is read back', () => {
    const h = addValues(createHistogram(latency), [3, 40, 41]);
    const back = HistogramSchema.parse(JSON.parse(JSON.stringify(h)));
    expect(back).toEqual(h);
    expect(HistogramSchema.safeParse({ ...h, counts: [1, 2] }).success).toBe(false);
    expect(HistogramSchema.safeParse({ ...h, spec: { ...h.spec, min: -1 } }).success).toBe(false);
  });

  it('reads quantiles within a bin of the exact ones', () => {
    const values = samples(20_000, seededRandom(11));
    const h = addValues(createHistogram({ scale: 'linear', min: 0, max: 1, bins: 50 }), values);
    const sorted = [...values].sort((x, y) => x - y);
    for (const q of [0.05, 0.5, 0.95]) expect(Math.abs(quantile(h, q)! - sorted[Math.floor(q * sorted.length)])).toBeLessThan(0.02);
    expect(quantile(h, 0)).toBeCloseTo(0, 6);
    expect(quantile(h, 1)).toBeCloseTo(1, 6);
    expect(quantile(createHistogram(unit), 0.5)).toBeNull();
    expect(() => quantile(h, 1.5)).toThrow(RangeError);
  });

  it('reads p50/p95 latencies off a log histogram within one bin ratio (26 %)', () => {
    const normal = seededNormal(5);
    const values = samples(5000, () => 40 * Math.exp(0.4 * normal())); // log-normal around 40 ms
    const h = addValues(createHistogram(latency), values);
    const sorted = [...values].sort((x, y) => x - y);
    for (const q of [0.5, 0.95]) {
      const exact = sorted[Math.floor(q * sorted.length)];
      const read = quantile(h, q)!;
      expect(read / exact).toBeGreaterThan(1 / 1.26);
      expect(read / exact).toBeLessThan(1.26);
    }
  });

  it('approximates mean and variance from bin centres', () => {
    const values = samples(10_000, seededNormal(3, 120, 12));
    const h = addValues(createHistogram({ scale: 'linear', min: 0, max: 256, bins: 64 }), values);
    expect(histogramMean(h)).toBeCloseTo(120, 0);
    expect(Math.sqrt(histogramVariance(h)!)).toBeGreaterThan(11.5);
    expect(Math.sqrt(histogramVariance(h)!)).toBeLessThan(12.7); // binning adds about width²/12
    expect(histogramMean(createHistogram(unit))).toBeNull();
    expect(histogramVariance(addValue(createHistogram(unit), 0.5))).toBeNull();
  });
});
