import { evaluate, tarAtFar } from './evaluate';
import { computePrototypes } from './head';
import { cosineScores, matchIdentity } from './matching';

const policy = { matchThreshold: 0.45, minMargin: 0.05 };

describe('matchIdentity', () => {
  const labels = ['ann', 'bob', 'cy'];

  it('returns the top-1 identity with its score and margin', () => {
    const m = matchIdentity([0.2, 0.81, 0.3], labels, policy);
    expect(m.identity).toBe('bob');
    expect(m.candidate).toBe('bob');
    expect(m.score).toBeCloseTo(0.81);
    expect(m.margin).toBeCloseTo(0.51);
  });

  it('is unknown below the match threshold or the minimum margin, but keeps the candidate', () => {
    expect(matchIdentity([0.44, 0.1, 0.2], labels, policy)).toMatchObject({ identity: null, candidate: 'ann' });
    const close = matchIdentity([0.7, 0.68, 0.1], labels, policy);
    expect(close).toMatchObject({ identity: null, candidate: 'ann' });
    expect(close.margin).toBeCloseTo(0.02);
  });

  it('measures a single identity’s margin against 0 and handles no head', () => {
    expect(matchIdentity([0.6], ['ann'], policy)).toMatchObject({ identity: 'ann', margin: 0.6 });
    expect(matchIdentity([-0.2], ['ann'], policy)).toMatchObject({ identity: null, score: -0.2, margin: 0 });
    expect(matchIdentity([], [], policy)).toEqual({ identity: null, candidate: null, score: null, margin: null });
  });
});

function unit(...v: number[]): Float32Array {
  const a = Float32Array.from(v);
  const n = Math.hypot(...v);
  return a.map((x) => x / n);
}

describe('computePrototypes / cosineScores / evaluate', () => {
  const gallery = [
    { label: 'ann', embedding: unit(1, 0.1, 0) },
    { label: 'ann', embedding: unit(1, -0.1, 0) },
    { label: 'bob', embedding: unit(0, 1, 0.1) },
  ];
  const head = computePrototypes(gallery, 3);

  it('averages and renormalises each identity, in first-seen order', () => {
    expect(head.labels).toEqual(['ann', 'bob']);
    expect(Array.from(head.prototypes[0])).toEqual([1, 0, 0]);
    expect(Math.hypot(...head.prototypes[1])).toBeCloseTo(1, 6);
    expect(cosineScores(unit(1, 0, 0), head.prototypes)[0]).toBeCloseTo(1, 6);
  });

  it('counts accuracy and confusion, with strangers expected unknown', () => {
    const e = evaluate(
      head,
      [
        { label: 'ann', embedding: unit(1, 0.2, 0) }, // right
        { label: 'bob', embedding: unit(0.1, 1, 0) }, // right
        { label: 'bob', embedding: unit(1, 0, 0.1) }, // → ann: wrong
        { label: 'zed', embedding: unit(0, 0, 1) }, // not enrolled → unknown: right
        { label: null, embedding: unit(0.9, 0, 0.2) }, // stranger taken for ann: false accept
      ],
      policy,
    );
    expect(e.classes).toEqual(['ann', 'bob', 'unknown']);
    expect(e.confusion).toEqual([
      [1, 0, 0],
      [1, 1, 0],
      [1, 0, 1],
    ]);
    expect(e.correct).toBe(3);
    expect(e.accuracy).toBeCloseTo(0.6);
    expect(e.falseAcceptRate).toBeCloseTo(0.5);
    expect(e.genuineScores).toHaveLength(3);
    expect(e.impostorScores).toHaveLength(3 + 4);
  });

  it('computes TAR at a FAR', () => {
    const impostor = [0.1, 0.2, 0.3, 0.4];
    const genuine = [0.35, 0.5, 0.9];
    expect(tarAtFar(genuine, impostor, 0).tar).toBeCloseTo(2 / 3);
    expect(tarAtFar(genuine, impostor, 0.25)).toMatchObject({ tar: 1 });
  });
});
