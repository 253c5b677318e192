import { evaluate } from '@edgeloop/vision';
import { evaluateOpenSet, tarAtFarScores } from './evaluate';
import { probeAt, TWO_PEOPLE } from './testing/probes';

describe('evaluateOpenSet', () => {
  const thresholds = { match: 0.5, margin: 0.1 };
  const probes = [
    probeAt(0.9, 0.1, 'A', 'dev-1'), // identified
    probeAt(0.55, 0.5, 'A', 'dev-1'), // margin 0.05: missed (rank-1 right)
    probeAt(0.2, 0.7, 'B', 'dev-2'), // identified
    probeAt(0.6, 0.3, 'B', 'dev-2'), // given A: misidentified (rank-1 wrong)
    probeAt(0.4, 0.1, null, 'dev-1'), // stranger rejected
    probeAt(0.7, 0.1, null, 'dev-2'), // stranger accepted as A
    probeAt(0.3, 0.2, 'carol', 'dev-1'), // unknown to the head: a stranger for it, rejected
    probeAt(0.1, 0.05, null, 'dev-2', 'not_a_face'), // rejected
  ];
  const report = evaluateOpenSet(TWO_PEOPLE, thresholds, probes);

  it('computes the headline rates by hand', () => {
    expect(report.probes).toBe(8);
    expect(report.correct).toEqual([true, false, true, false, true, false, true, true]);
    expect(report.accuracy).toBe(5 / 8);
    expect(report.rank1).toBe(3 / 4);
    expect(report.dirAtFpir).toEqual({ dir: 0.5, fpir: 0.25, strangerFpir: 0.25, misidentification: 0.25 });
    expect(report.unknownRejection).toBe(3 / 4);
    // 12 impostor scores, the highest 0.7 (the accepted stranger): only A's 0.9 genuine is above it.
    expect(report.tarAtFar1e3).toBe(0.25);
    expect(report.thresholds).toEqual(thresholds);
  });

  it('scores a gallery person the head does not know as a miss, not as a rejected stranger', () => {
    // with carol enrolled in truth, the head that cannot name her misses her: one more mated probe, not identified
    const withGallery = evaluateOpenSet(TWO_PEOPLE, thresholds, probes, { gallery: ['A', 'B', 'carol'] });
    expect(withGallery.correct).toEqual([true, false, true, false, true, false, false, true]);
    expect(withGallery.dirAtFpir.dir).toBe(2 / 5);
    expect(withGallery.unknownRejection).toBe(2 / 3);
    expect(withGallery.rank1).toBe(3 / 5);
    expect(withGallery.perIdentity.carol).toEqual({ n: 1, correct: 0, accuracy: 0, enrolled: false });
    // accepted as someone else, she is a misidentification for this head
    const carolAsA = evaluateOpenSet(TWO_PEOPLE, thresholds, [probeAt(0.8, 0.1, 'carol', 'dev-1')], { gallery: ['A', 'B', 'carol'] });
    expect(carolAsA.dirAtFpir).toMatchObject({ dir: 0, misidentification: 1 });
  });

  it('slices by identity, device and kind', () => {
    expect(report.perIdentity).toEqual({
      A: { n: 2, correct: 1, accuracy: 0.5, enrolled: true },
      B: { n: 2, correct: 1, accuracy: 0.5, enrolled: true },
      carol: { n: 1, correct: 1, accuracy: 1, enrolled: false },
    });
    expect(report.perDevice).toEqual({ 'dev-1': { n: 4, correct: 3, accuracy: 0.75 }, 'dev-2': { n: 4, correct: 2, accuracy: 0.5 } });
    expect(report.perKind).toEqual({
      identity: { n: 5, correct: 3, accuracy: 0.6 },
      stranger: { n: 2, correct: 1, accuracy: 0.5 },
      not_a_face: { n: 1, correct: 1, accuracy: 1 },
    });
  });

  it('decides like the existing evaluation on the edge rule', () => {
    const edge = evaluate(TWO_PEOPLE, probes, { matchThreshold: thresholds.match, minMargin: thresholds.margin });
    expect(edge.correct).toBe(5);
    expect(edge.falseAcceptRate).toBe(report.dirAtFpir.strangerFpir);
  });
});

describe('tarAtFarScores', () => {
  it('puts the threshold just above the (⌊far·n⌋+1)-th highest impostor', () => {
    const impostor = Float32Array.from({ length: 1000 }, (_, i) => (i / 1000) * 0.7);
    const { threshold, tar } = tarAtFarScores(Float32Array.from([0.9, 0.8, 0.5]), impostor, 1e-3);
    expect(threshold).toBeCloseTo(0.6986, 5);
    expect(tar).toBe(2 / 3);
    expect(tarAtFarScores(Float32Array.from([0.9]), impostor, 0.5).threshold).toBeCloseTo(0.3493, 5); // 501st highest: 499/1000 · 0.7
    expect(tarAtFarScores(new Float32Array(0), impostor, 1e-3).tar).toBe(0);
  });
});
