import { TokenBucket } from './token-bucket';

describe('TokenBucket', () => {
  it('allows a burst, then the refill rate', () => {
    const bucket = new TokenBucket(6, 2, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, false]);
    expect(bucket.take(9_000)).toBe(false);
    expect(bucket.take(10_000)).toBe(true);
    expect(bucket.take(10_000)).toBe(false);
  });

  it('with no capacity never gives a token', () => {
    const bucket = new TokenBucket(60, 0, 0);
    expect(bucket.take(120_000)).toBe(false);
  });
});
