import { openSetRates, outcomeOf, scoreProbes } from './open-set';
import { probeAt, TWO_PEOPLE } from './testing/probes';

describe('open-set scoring', () => {
  it('scores like the edge: top-1, margin, expected index (-1 when the head does not know the label)', () => {
    const [a, stranger, carol, labelledNonFace] = scoreProbes(TWO_PEOPLE, [
      probeAt(0.8, 0.3, 'A'),
      probeAt(0.2, 0.6, null),
      probeAt(0.4, 0.1, 'carol'),
      { ...probeAt(0.4, 0.1, 'A'), kind: 'not_a_face' },
    ]);
    expect(a).toEqual({ expected: 0, candidate: 0, score: expect.closeTo(0.8, 6), margin: expect.closeTo(0.5, 6) });
    expect(stranger).toMatchObject({ expected: -1, candidate: 1 });
    expect(carol.expected).toBe(-1);
    expect(labelledNonFace.expected).toBe(-1);
  });

  it('names each outcome with the rule top-1 ≥ match and margin ≥ margin', () => {
    const t = { match: 0.5, margin: 0.1 };
    const outcome = (toA: number, toB: number, label: string | null) => outcomeOf(scoreProbes(TWO_PEOPLE, [probeAt(toA, toB, label)])[0], t);
    expect(outcome(0.8, 0.1, 'A')).toBe('identified');
    expect(outcome(0.5, 0.1, 'A')).toBe('identified'); // at the threshold is accepted
    expect(outcome(0.49, 0.1, 'A')).toBe('missed');
    expect(outcome(0.6, 0.55, 'A')).toBe('missed'); // margin 0.05
    expect(outcome(0.8, 0.1, 'B')).toBe('misidentified');
    expect(outcome(0.8, 0.1, null)).toBe('false_accept');
    expect(outcome(0.3, 0.1, null)).toBe('rejected');
  });

  it('reports FPIR as the worse of the stranger and misidentification rates', () => {
    const scored = scoreProbes(TWO_PEOPLE, [
      probeAt(0.9, 0.1, 'A'),
      probeAt(0.9, 0.1, 'B'), // misidentified: 1 of 2 mated
      probeAt(0.9, 0.1, null), // false accept: 1 of 4 non-mated
      probeAt(0.1, 0.1, null),
      probeAt(0.1, 0.1, null),
      probeAt(0.1, 0.1, null),
    ]);
    expect(openSetRates(scored, { match: 0.5, margin: 0 })).toEqual({
      fpir: 0.5,
      strangerFpir: 0.25,
      misidentification: 0.5,
      dir: 0.5,
      mated: 2,
      nonMated: 4,
    });
  });

  it('refuses a probe of another dimension', () => {
    expect(() => scoreProbes(TWO_PEOPLE, [{ label: 'A', embedding: new Float32Array(4) }])).toThrow(/4 values, the head 3/);
  });
});
