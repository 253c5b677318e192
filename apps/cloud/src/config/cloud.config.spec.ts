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

  it('takes prediction intake in every process unless told otherwise, and leaves it only with an external broker', () => {
    expect(CloudConfig.fromEnv({}).predictionIntake).toBe(true);
    const api = CloudConfig.fromEnv({ MQTT_URL: 'mqtt://mosquitto:1883', EDGELOOP_WORKERS: 'false', EDGELOOP_PREDICTION_INTAKE: 'false' });
    expect({ workers: api.workers, predictionIntake: api.predictionIntake }).toEqual({ workers: false, predictionIntake: false });
    expect(() => CloudConfig.fromEnv({ EDGELOOP_PREDICTION_INTAKE: 'false' })).toThrow(/EDGELOOP_PREDICTION_INTAKE=false needs MQTT_URL/);
    expect(() => CloudConfig.fromEnv({ MQTT_URL: 'mqtt://mosquitto:1883', EDGELOOP_PREDICTION_INTAKE: 'maybe' })).toThrow(/EDGELOOP_PREDICTION_INTAKE/);
  });

  it('requires S3 credentials with an S3 endpoint', () => {
    expect(() => CloudConfig.fromEnv({ S3_ENDPOINT: 'minio' })).toThrow(/S3_ACCESS_KEY/);
  });

  it('refuses the placeholder secrets of the examples at boot, listed with every other bad variable', () => {
    let error: unknown;
    try {
      CloudConfig.fromEnv({
        EDGELOOP_BOOTSTRAP_TOKEN: 'change-me-bootstrap-token-0000',
        MQTT_URL: 'mqtt://mosquitto:1883',
        MQTT_USERNAME: 'edgeloop-admin',
        MQTT_PASSWORD: 'change-me-mqtt-admin',
        DATABASE_URL: 'postgres://edgeloop:change-me-postgres@postgres:5432/edgeloop',
        S3_ENDPOINT: 'minio',
        S3_ACCESS_KEY: 'minioadmin',
        S3_SECRET_KEY: 'minioadmin',
        EDGELOOP_HTTP_PORT: '70000',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of ['EDGELOOP_BOOTSTRAP_TOKEN', 'MQTT_PASSWORD', 'DATABASE_URL (its password)', 'S3_SECRET_KEY', 'EDGELOOP_HTTP_PORT']) {
      expect(problems).toContain(name);
    }
    expect(problems).toMatch(/placeholder/);
  });

  it('takes real secrets', () => {
    const config = CloudConfig.fromEnv({
      EDGELOOP_BOOTSTRAP_TOKEN: 'elt_4mV0q9xZ2pQ8rT1uW3yA6cE9gJ2lN5o',
      MQTT_URL: 'mqtt://mosquitto:1883',
      MQTT_USERNAME: 'edgeloop-admin',
      MQTT_PASSWORD: 'Jx8-2kQp_93LmZ0vW',
      DATABASE_URL: 'postgres://edgeloop:9fK2mQ7xLp0Z@postgres:5432/edgeloop',
    });
    expect(config.bootstrapToken).toBe('elt_4mV0q9xZ2pQ8rT1uW3yA6cE9gJ2lN5o');
  });

  it('reads EDGELOOP_SECRETS_KEY as 32 bytes of hex or base64, and nothing shorter', () => {
    const key = Buffer.alloc(32, 7);
    expect(CloudConfig.fromEnv({ EDGELOOP_SECRETS_KEY: key.toString('hex') }).secretsKey).toEqual(key);
    expect(CloudConfig.fromEnv({ EDGELOOP_SECRETS_KEY: key.toString('base64') }).secretsKey).toEqual(key);
    expect(() => CloudConfig.fromEnv({ EDGELOOP_SECRETS_KEY: Buffer.alloc(16).toString('base64') })).toThrow(/EDGELOOP_SECRETS_KEY.*32-byte/);
    expect(CloudConfig.fromEnv({}).secretsKey).toBeUndefined();
  });

  it('serves /metrics and /api/docs without a token unless told otherwise', () => {
    expect(CloudConfig.fromEnv({}).publicEndpoints).toEqual({ metrics: true, docs: true });
    expect(CloudConfig.fromEnv({ EDGELOOP_METRICS_PUBLIC: 'false', EDGELOOP_DOCS_PUBLIC: 'false' }).publicEndpoints).toEqual({ metrics: false, docs: false });
  });
});
