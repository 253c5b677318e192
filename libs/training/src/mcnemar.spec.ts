import { chiSquare1Survival, erfc, exactMcNemarPValue, mcnemar } from './mcnemar';

/** Paired results with `both` right in both, `b` first-only, `c` second-only, `neither` wrong in both. */
function paired(both: number, b: number, c: number, neither: number): [boolean[], boolean[]] {
  const first = [...Array(both).fill(true), ...Array(b).fill(true), ...Array(c).fill(false), ...Array(neither).fill(false)];
  const second = [...Array(both).fill(true), ...Array(b).fill(false), ...Array(c).fill(true), ...Array(neither).fill(false)];
  return [first, second];
}

describe('mcnemar', () => {
  it('counts discordant pairs only', () => {
    const [a, b] = paired(50, 10, 2, 7);
    const result = mcnemar(a, b);
    expect(result.b).toBe(10);
    expect(result.c).toBe(2);
    expect(result.method).toBe('exact');
    // 2 · (C(12,0) + C(12,1) + C(12,2)) / 2¹² = 2 · 79 / 4096
    expect(result.pValue).toBeCloseTo(0.03857421875, 12);
    expect(result.statistic).toBeCloseTo(49 / 12, 12); // (|10 − 2| − 1)² / 12
  });

  it('uses chi-square with continuity correction for many discordant pairs', () => {
    const [a, b] = paired(100, 30, 10, 0);
    const result = mcnemar(a, b);
    expect(result.method).toBe('chi-square');
    expect(result.statistic).toBeCloseTo(9.025, 12); // (20 − 1)² / 40
    expect(result.pValue).toBeCloseTo(0.002663119259, 6); // erfc(√4.5125)
  });

  it('is symmetric and gives p = 1 without discordance', () => {
    const [a, b] = paired(20, 3, 9, 2);
    expect(mcnemar(a, b).pValue).toBeCloseTo(mcnemar(b, a).pValue, 15);
    expect(mcnemar(b, a)).toMatchObject({ b: 9, c: 3 });
    expect(mcnemar([true, false], [true, false])).toEqual({ b: 0, c: 0, statistic: 0, pValue: 1, method: 'exact' });
    expect(exactMcNemarPValue(5, 15)).toBeCloseTo(0.04138946533203125, 12);
    expect(exactMcNemarPValue(4, 4)).toBe(1);
  });

  it('knows its special functions', () => {
    expect(erfc(0)).toBeCloseTo(1, 7);
    expect(erfc(1)).toBeCloseTo(0.157299207050285, 7);
    expect(erfc(-1)).toBeCloseTo(1.842700792949715, 7);
    expect(chiSquare1Survival(3.841458820694124)).toBeCloseTo(0.05, 6);
  });

  it('refuses unpaired results', () => {
    expect(() => mcnemar([true], [true, false])).toThrow(/paired/);
  });
});
