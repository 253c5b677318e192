import type { TrainingExample } from './dataset';
import { trimmedPrototypes } from './prototypes';

let serial = 0;
function example(label: string | null, embedding: Float32Array, kind: TrainingExample['kind'] = 'identity'): TrainingExample {
  serial++;
  return { id: `e${serial}`, label, kind, embedding, group: 'cam-1', time: serial * 120_000 };
}

describe('trimmedPrototypes', () => {
  it('drops the farthest trimFraction before averaging', () => {
    const e = (v: number[]) => example('A', Float32Array.from(v));
    const examples = [...Array.from({ length: 9 }, () => e([1, 0, 0])), e([0, 1, 0])];
    const trimmed = trimmedPrototypes(examples, 0.1);
    expect(trimmed.labels).toEqual(['A']);
    expect(Array.from(trimmed.prototypes[0])).toEqual([1, 0, 0]);
    // No trimming: (9, 1, 0) / √82.
    const plain = trimmedPrototypes(examples, 0).prototypes[0];
    expect(plain[0]).toBeCloseTo(9 / Math.sqrt(82), 6);
    expect(plain[1]).toBeCloseTo(1 / Math.sqrt(82), 6);
  });

  it('refuses a trim of 1 or more and a set with no identity', () => {
    expect(() => trimmedPrototypes([example('A', Float32Array.from([1]))], 1)).toThrow(/trimFraction/);
    expect(() => trimmedPrototypes([example(null, Float32Array.from([1]), 'stranger')], 0.1)).toThrow(/no identity examples/);
  });

  it('sorts labels and ignores strangers', () => {
    const examples = [
      example('zoe', Float32Array.from([0, 1])),
      example(null, Float32Array.from([1, 0]), 'stranger'),
      example('adam', Float32Array.from([1, 0])),
    ];
    expect(trimmedPrototypes(examples, 0.1).labels).toEqual(['adam', 'zoe']);
  });
});
