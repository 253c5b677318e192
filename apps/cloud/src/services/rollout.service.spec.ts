import { planWaves } from './rollout.service';

describe('planWaves', () => {
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `d${i}`);
  const waves = (n: number, strategy: Parameters<typeof planWaves>[1]) => [...planWaves(ids(n), strategy).values()];
  const canary = (percent: number, batchSize: number) => ({ type: 'canary' as const, percent, batchSize, observeSeconds: 0, maxFailurePercent: 0, autoRollback: true });

  it('puts everyone in one wave with `all`', () => {
    expect(waves(3, { type: 'all' })).toEqual([0, 0, 0]);
  });

  it('sizes the canary as the most devices within the percentage, at least one', () => {
    expect(waves(3, canary(34, 1))).toEqual([0, 1, 2]);
    expect(waves(3, canary(67, 5))).toEqual([0, 0, 1]);
    expect(waves(10, canary(10, 3))).toEqual([0, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
    expect(waves(4, canary(1, 10))).toEqual([0, 1, 1, 1]);
    expect(waves(2, canary(100, 1))).toEqual([0, 0]);
  });
});
