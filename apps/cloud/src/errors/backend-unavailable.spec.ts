import { isBackendUnavailable } from './backend-unavailable';

describe('isBackendUnavailable', () => {
  it('knows a backing service down or restarting', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), { code: 'ECONNREFUSED' });
    expect(isBackendUnavailable(refused)).toBe(true);
    expect(isBackendUnavailable(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))).toBe(true);
    expect(isBackendUnavailable(Object.assign(new Error('the database system is starting up'), { code: '57P03' }))).toBe(true);
    expect(isBackendUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isBackendUnavailable(new Error('Connection is closed.'))).toBe(true);
    expect(isBackendUnavailable(new Error('fetch failed', { cause: refused }))).toBe(true);
    expect(isBackendUnavailable(new AggregateError([refused], 'all attempts failed'))).toBe(true);
  });

  it('leaves every other error a 500', () => {
    expect(isBackendUnavailable(new Error('boom'))).toBe(false);
    expect(isBackendUnavailable(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBe(false);
    expect(isBackendUnavailable(Object.assign(new Error('no such file'), { code: 'ENOENT' }))).toBe(false);
    expect(isBackendUnavailable(undefined)).toBe(false);
  });
});
