import { CloudConfig, ConfigError } from './cloud.config';

describe('CloudConfig', () => {
  it('works with no variable set (embedded defaults)', () => {
    const config = CloudConfig.fromEnv({});
    expect(config.http).toEqual({ host: '127.0.0.1', port: 0 });
    expect(config.maxUploadBytes).toBe(1024 ** 3);
    expect(config.s3).toBeUndefined();
  });

  it('lists every bad variable in one error', () => {
    let error: unknown;
    try {
      CloudConfig.fromEnv({ EDGELOOP_HTTP_PORT: '70000', DATABASE_URL: 'mysql://x', EDGELOOP_MAX_UPLOAD_BYTES: '-1' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/EDGELOOP_HTTP_PORT/);
    expect(problems).toMatch(/DATABASE_URL/);
    expect(problems).toMatch(/EDGELOOP_MAX_UPLOAD_BYTES/);
  });

  it('requires S3 credentials with an S3 endpoint', () => {
    expect(() => CloudConfig.fromEnv({ S3_ENDPOINT: 'minio' })).toThrow(/S3_ACCESS_KEY/);
  });
});
