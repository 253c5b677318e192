import { Backoff } from './backoff';

describe('Backoff', () => {
  it('doubles from the initial delay up to the ceiling, and starts over after reset()', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1000 });
    expect(Array.from({ length: 6 }, () => backoff.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    backoff.reset();
    expect(backoff.next()).toBe(100);
  });

  it('takes up to the jitter fraction off each delay', () => {
    const low = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.2, random: () => 1 });
    const high = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.2, random: () => 0 });
    expect(low.next()).toBe(800);
    expect(high.next()).toBe(1000);
  });

  it('refuses a ceiling below the first delay', () => {
    expect(() => new Backoff({ initialMs: 500, maxMs: 100 })).toThrow(RangeError);
  });
});
