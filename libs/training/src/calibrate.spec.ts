import { evaluate } from '@edgeloop/vision';
import { calibrate } from './calibrate';
import { evaluateOpenSet } from './evaluate';
import { probeAt, TWO_PEOPLE } from './testing/probes';

describe('calibrate', () => {
  // Four probes of A (top-1 0.9 … 0.6, margins ≥ 0.5) and three strangers, one of them ambiguous
  // (0.75 to A, 0.66 to B: margin 0.09).
  const probes = [
    probeAt(0.9, 0.1, 'A'),
    probeAt(0.8, 0.1, 'A'),
    probeAt(0.7, 0.1, 'A'),
    probeAt(0.6, 0.1, 'A'),
    probeAt(0.65, 0, null),
    probeAt(0.75, 0.66, null),
    probeAt(0.3, 0.1, null),
  ];

  it('uses the margin to drop an ambiguous stranger and lowers the threshold to just above the next one', () => {
    const result = calibrate(TWO_PEOPLE, probes, { targetFpir: 0.01 });
    // Margin 0 must sit above 0.75 (DIR 2/4); margin 0.1 rejects the ambiguous stranger, so the
    // threshold goes halfway between A's 0.7 and the stranger's 0.65 (DIR 3/4). 0.15 ties: smaller wins.
    expect(result.margin).toBe(0.1);
    expect(result.match).toBeCloseTo(0.675, 6);
    expect(result).toMatchObject({ dir: 0.75, fpir: 0, strangerFpir: 0, misidentification: 0, mated: 4, nonMated: 3 });
    expect(result.notes).toEqual(['only 3 non-mated probes: no false accept of a stranger is tolerated (one would be 33.33% > target)']);
    // Without the margin grid the best stops above the ambiguous stranger: 0.9 and 0.8 only.
    const noMargin = calibrate(TWO_PEOPLE, probes, { targetFpir: 0.01, marginGrid: [0] });
    expect(noMargin.match).toBeCloseTo(0.775, 6);
    expect(noMargin.dir).toBe(0.5);
  });

  it('agrees with the edge rule: the calibrated thresholds give the same rates on the same probes', () => {
    const result = calibrate(TWO_PEOPLE, probes);
    const report = evaluateOpenSet(TWO_PEOPLE, result, probes);
    expect(report.dirAtFpir.dir).toBe(result.dir);
    expect(report.dirAtFpir.fpir).toBe(result.fpir);
    const edge = evaluate(TWO_PEOPLE, probes, { matchThreshold: result.match, minMargin: result.margin });
    expect(edge.correct).toBe(6); // three A accepted, 0.6 missed, three strangers rejected
    expect(report.correct.filter(Boolean)).toHaveLength(6);
  });

  it('counts misidentified enrolled people as false positives and tolerates up to the target', () => {
    const mixed = [
      probeAt(0.9, 0.1, 'A'),
      probeAt(0.8, 0.1, 'A'),
      probeAt(0.75, 0.2, 'B'), // B scored as A: a misidentification if accepted
      probeAt(0.7, 0.1, 'A'),
      probeAt(0.6, 0.1, 'A'),
      probeAt(0.95, 0.1, null),
      probeAt(0.5, 0.1, null),
      probeAt(0.4, 0.1, null),
      probeAt(0.3, 0.1, null),
    ];
    // A quarter may go wrong: one stranger of 4 (0.25) and one enrolled probe of 5 (0.2).
    const loose = calibrate(TWO_PEOPLE, mixed, { targetFpir: 0.25, marginGrid: [0] });
    expect(loose.match).toBeCloseTo(0.55, 6);
    expect(loose).toMatchObject({ dir: 0.8, fpir: 0.25, strangerFpir: 0.25, misidentification: 0.2 });
    // At 0.2 the 0.95 stranger can never be let through: nothing is accepted.
    const strict = calibrate(TWO_PEOPLE, mixed, { targetFpir: 0.2, marginGrid: [0] });
    expect(strict.dir).toBe(0);
    expect(strict.match).toBeCloseTo(0.951, 6);
    expect(strict.notes).toContain('no threshold reaches FPIR ≤ 0.2 while identifying anyone: the head accepts nothing');
  });

  it('accepts nothing without calibration probes, and rejects bad options', () => {
    const empty = calibrate(TWO_PEOPLE, []);
    expect(empty.match).toBeGreaterThan(1);
    expect(empty.notes[0]).toMatch(/^no calibration probes/);
    expect(() => calibrate(TWO_PEOPLE, probes, { targetFpir: 1 })).toThrow(/targetFpir/);
    expect(() => calibrate(TWO_PEOPLE, probes, { marginGrid: [] })).toThrow(/marginGrid/);
  });
});
