import { dot } from '../vectors';
import { syntheticFaces } from './synthetic';

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

describe('syntheticFaces', () => {
  const faces = syntheticFaces({ identities: 6, perIdentity: 8, strangers: 10, notFaces: 2, seed: 3 });
  const of = (label: string) => faces.filter((e) => e.label === label);

  it('labels, ids, kinds and devices', () => {
    expect(faces).toHaveLength(6 * 8 + 12);
    expect(faces[0]).toMatchObject({ id: 'person-0001/0001', label: 'person-0001', kind: 'identity', group: 'device-2' });
    expect(faces.filter((e) => e.kind === 'stranger').every((e) => e.label === null)).toBe(true);
    expect(faces.filter((e) => e.kind === 'not_a_face')).toHaveLength(2);
    expect(new Set(faces.map((e) => e.group))).toEqual(new Set(['device-1', 'device-2', 'device-3']));
    for (const e of faces) expect(dot(e.embedding, e.embedding)).toBeCloseTo(1, 5);
  });

  it('same person ≈ sameCosine, different people and strangers ≈ 0', () => {
    const same: number[] = [];
    const different: number[] = [];
    const a = of('person-0001');
    for (let i = 0; i < a.length; i++) for (let j = i + 1; j < a.length; j++) same.push(dot(a[i].embedding, a[j].embedding));
    for (let p = 1; p <= 6; p++) {
      for (let q = p + 1; q <= 6; q++) {
        for (const x of of(`person-000${p}`)) for (const y of of(`person-000${q}`)) different.push(dot(x.embedding, y.embedding));
      }
    }
    expect(mean(same)).toBeCloseTo(0.8, 1);
    expect(Math.abs(mean(different))).toBeLessThan(0.05);
    const strangers = faces.filter((e) => e.kind === 'stranger');
    expect(Math.abs(mean(strangers.map((s) => dot(s.embedding, a[0].embedding))))).toBeLessThan(0.1);
  });

  it('visits: near-duplicate frames a second apart, other visits at ≈ sameCosine', () => {
    const visits = syntheticFaces({ identities: 1, perIdentity: 8, framesPerVisit: 4, seed: 4, sameCosine: 0.7, frameCosine: 0.95 });
    expect(visits[1].time - visits[0].time).toBe(1000);
    expect(visits[4].time - visits[3].time).toBeGreaterThan(60_000);
    expect(dot(visits[0].embedding, visits[1].embedding)).toBeGreaterThan(0.9);
    const across = visits.slice(0, 4).flatMap((x) => visits.slice(4).map((y) => dot(x.embedding, y.embedding)));
    expect(mean(across)).toBeCloseTo(0.7, 1);
  });

  it('is deterministic for a seed', () => {
    const again = syntheticFaces({ identities: 6, perIdentity: 8, strangers: 10, notFaces: 2, seed: 3 });
    expect(again.map((e) => Array.from(e.embedding))).toEqual(faces.map((e) => Array.from(e.embedding)));
    expect(Array.from(syntheticFaces({ identities: 1, perIdentity: 1, seed: 4 })[0].embedding)).not.toEqual(Array.from(faces[0].embedding));
  });
});
