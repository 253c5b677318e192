import type { IdentitySlice, OpenSetReport, SliceAccuracy } from './evaluate';
import { gate } from './gate';

const slice = (n: number, correct: number): SliceAccuracy => ({ n, correct, accuracy: correct / n });
const person = (n: number, correct: number, enrolled = true): IdentitySlice => ({ ...slice(n, correct), enrolled });

/** A report over 100 probes: the first `right` correct, the rest wrong. */
function report(dir: number, right: number, overrides: Partial<OpenSetReport> = {}): OpenSetReport {
  return {
    probes: 100,
    rank1: 0.95,
    accuracy: right / 100,
    dirAtFpir: { dir, fpir: 0.01, strangerFpir: 0.01, misidentification: 0 },
    tarAtFar1e3: 0.9,
    unknownRejection: 0.99,
    thresholds: { match: 0.5, margin: 0 },
    perIdentity: { alice: person(10, 9), bob: person(10, 8), carl: person(3, 3) },
    perDevice: { 'cam-1': slice(50, 45), 'cam-2': slice(50, 45) },
    perKind: {},
    correct: Array.from({ length: 100 }, (_, i) => i < right),
    ...overrides,
  };
}

describe('gate', () => {
  it('passes a strictly better candidate with no slice worse', () => {
    const result = gate(report(0.91, 91), report(0.9, 90));
    expect(result.passed).toBe(true);
    expect(result.primary).toEqual({ metric: 'dirAtFpir', candidate: 0.91, production: 0.9, delta: expect.closeTo(0.01, 12) });
    expect(result.reasons).toEqual(['dirAtFpir improves from 90.00% to 91.00% (+1.00%)']);
    expect(result.mcnemar).toMatchObject({ b: 1, c: 0, pValue: 1 });
  });

  it('fails an equal candidate: strictly better is required', () => {
    const result = gate(report(0.9, 90), report(0.9, 90));
    expect(result.passed).toBe(false);
    expect(result.reasons).toEqual(['dirAtFpir is unchanged at 90.00%: the candidate must be strictly better']);
    expect(gate(report(0.92, 90), report(0.9, 90), { minImprovement: 0.05 }).reasons[0]).toBe(
      'dirAtFpir improves only from 90.00% to 92.00%, not more than the required 5.00%',
    );
  });

  it('fails a candidate that is better overall but worse on one identity or device', () => {
    const candidate = report(0.93, 93, {
      perIdentity: { alice: person(10, 8), bob: person(10, 10), carl: person(3, 0) },
      perDevice: { 'cam-1': slice(50, 49), 'cam-2': slice(50, 44) },
    });
    const result = gate(candidate, report(0.9, 90));
    expect(result.passed).toBe(false);
    // alice drops 10 points; carl drops 100 but has 3 probes (< 5); cam-2 drops 2 points (= tolerance).
    expect(result.worseSlices).toEqual([{ kind: 'identity', key: 'alice', n: 10, candidate: 0.8, production: 0.9, delta: expect.closeTo(-0.1, 12) }]);
    expect(result.reasons).toContain('identity alice (10 probes) drops from 90.00% to 80.00%, more than the 2.00% tolerance');
    const strictDevices = gate(candidate, report(0.9, 90), { sliceTolerance: 0.01 });
    expect(strictDevices.worseSlices.map((s) => s.key)).toEqual(['alice', 'cam-2']);
  });

  it('does not compare a person enrolled in only one head', () => {
    // dana is new in the candidate: production was right to say unknown (10/10), the candidate
    // names her 8 times out of 10. Different tasks, so no regression.
    const production = report(0.9, 90, { perIdentity: { ...report(0, 0).perIdentity, dana: person(10, 10, false) } });
    const candidate = report(0.92, 92, { perIdentity: { ...report(0, 0).perIdentity, dana: person(10, 8, true) } });
    const result = gate(candidate, production);
    expect(result.passed).toBe(true);
    expect(result.worseSlices).toEqual([]);
    expect(result.reasons).toContain('not compared, enrolled in only one of the heads: dana');
    // Enrolled in both, the same drop fails.
    const both = report(0.9, 90, { perIdentity: { ...report(0, 0).perIdentity, dana: person(10, 10) } });
    expect(gate(candidate, both).worseSlices.map((s) => s.key)).toEqual(['dana']);
  });

  it('fails a candidate that McNemar finds significantly worse probe by probe', () => {
    // Better primary metric, but it loses 12 probes production got right and wins 2.
    const production = report(0.9, 90);
    const correct = production.correct.map((c, i) => (i < 12 ? false : i >= 90 && i < 92 ? true : c));
    const result = gate(report(0.91, 80, { correct }), production);
    expect(result.mcnemar).toMatchObject({ b: 2, c: 12 });
    expect(result.passed).toBe(false);
    expect(result.reasons.at(-1)).toMatch(/^McNemar: the candidate gets 10 more probes wrong than production \(p = 0\.0129\)/);
    // Significance can also be required for an improvement.
    const slight = gate(report(0.91, 91), production, { requireSignificance: true });
    expect(slight.passed).toBe(false);
    expect(slight.reasons.at(-1)).toBe('McNemar: the improvement is not significant (1 probes won, 0 lost, p = 1.00 ≥ 0.05)');
  });

  it('judges a first head against the floor', () => {
    expect(gate(report(0.6, 60), null)).toMatchObject({ passed: true, mcnemar: null, primary: { production: null, delta: null } });
    const low = gate(report(0.4, 40), null);
    expect(low.passed).toBe(false);
    expect(low.reasons).toEqual(['no production head: candidate dirAtFpir 40.00% is below the floor 50.00%']);
    expect(gate(report(0.4, 40), null, { floor: 0.3 }).passed).toBe(true);
  });

  it('can gate on another metric and on the FPIR', () => {
    const result = gate(report(0.9, 90, { rank1: 0.97 }), report(0.9, 90), { primary: 'rank1' });
    expect(result.passed).toBe(true);
    expect(result.primary.delta).toBeCloseTo(0.02, 12);
    const loud = report(0.95, 95, { dirAtFpir: { dir: 0.95, fpir: 0.03, strangerFpir: 0.03, misidentification: 0 } });
    expect(gate(loud, report(0.9, 90), { maxFpir: 0.01 }).reasons[0]).toBe('candidate FPIR 3.00% is above the allowed 1.00%');
  });

  it('refuses reports over different probes', () => {
    expect(() => gate(report(0.9, 90, { probes: 99, correct: new Array(99).fill(true) }), report(0.9, 90))).toThrow(/different probes/);
  });
});
