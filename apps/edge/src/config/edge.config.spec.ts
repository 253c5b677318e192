import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, EdgeConfig } from './edge.config';

describe('EdgeConfig', () => {
  const pem = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();

  it('works with no variable set (embedded defaults)', () => {
    const config = EdgeConfig.fromEnv({});
    expect(config).toMatchObject({ deviceId: 'edge-local', httpPort: 0, heartbeatMs: 30_000, mqtt: undefined });
    expect(config.hardExamples.sendCrops).toBe(false);
  });

  it('lists every bad variable in one error', () => {
    let error: unknown;
    try {
      EdgeConfig.fromEnv({
        EDGE_DEVICE_ID: 'has/slash',
        EDGE_MQTT_URL: 'ftp://x',
        EDGE_HTTP_PORT: '70000',
        EDGE_OUTBOX_MAX_ROWS: '-1',
        EDGE_SEND_CROPS: 'maybe',
        EDGE_SIGNING_PUBLIC_KEY: '/no/such/key.pem',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const vars = (error as ConfigError).problems.map((p) => p.split(':')[0]);
    expect(vars).toEqual(
      expect.arrayContaining(['EDGE_DEVICE_ID', 'EDGE_MQTT_URL', 'EDGE_HTTP_PORT', 'EDGE_OUTBOX_MAX_ROWS', 'EDGE_SEND_CROPS', 'EDGE_SIGNING_PUBLIC_KEY']),
    );
  });

  it('reads the MQTT credentials, defaulting the username to the device id', () => {
    const config = EdgeConfig.fromEnv({ EDGE_DEVICE_ID: 'cam-7', EDGE_MQTT_URL: 'mqtt://broker:1883', EDGE_MQTT_PASSWORD: 's3cret' });
    expect(config.mqtt).toMatchObject({ url: 'mqtt://broker:1883', username: 'cam-7', password: 's3cret' });
  });

  it('takes the signing key as PEM text (with escaped newlines) or as a file, and refuses a non-ed25519 key', () => {
    expect(EdgeConfig.fromEnv({ EDGE_SIGNING_PUBLIC_KEY: pem }).signingPublicKey?.asymmetricKeyType).toBe('ed25519');
    expect(EdgeConfig.fromEnv({ EDGE_SIGNING_PUBLIC_KEY: pem.replace(/\n/g, '\\n') }).signingPublicKey?.asymmetricKeyType).toBe('ed25519');
    const dir = mkdtempSync(join(tmpdir(), 'edge-key-'));
    try {
      writeFileSync(join(dir, 'key.pem'), pem);
      expect(EdgeConfig.fromEnv({ EDGE_SIGNING_PUBLIC_KEY: join(dir, 'key.pem') }).signingPublicKey).toBeDefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => EdgeConfig.fromEnv({ EDGE_SIGNING_PUBLIC_KEY: rsa })).toThrow(/ed25519/);
  });

  it('parses EDGE_SOURCE with the sources parser and maps the source options', () => {
    const config = EdgeConfig.fromEnv({
      EDGE_SOURCE: 'mjpeg:http://camera.local/stream',
      EDGE_FPS: '3',
      EDGE_SOURCE_PUSH_TOKEN: 'push-secret',
      EDGE_SOURCE_RECONNECT_MIN_MS: '100',
      EDGE_SOURCE_RECONNECT_MAX_MS: '2000',
      EDGE_SOURCE_STALL_MS: '5000',
    });
    expect(config.source).toEqual({ kind: 'mjpeg', url: 'http://camera.local/stream' });
    expect(config.sourceOptions).toMatchObject({ fps: 3, loop: true, pushToken: 'push-secret', stallTimeoutMs: 5000, reconnect: { initialMs: 100, maxMs: 2000 } });
    expect(EdgeConfig.fromEnv({ EDGE_SOURCE: 'http-push:9000' }).source).toEqual({ kind: 'http-push', host: '127.0.0.1', port: 9000 });
    expect(() => EdgeConfig.fromEnv({ EDGE_SOURCE: 'smoke-signals:1' })).toThrow(/EDGE_SOURCE: unknown frame source/);
    expect(() => EdgeConfig.fromEnv({ EDGE_SOURCE_RECONNECT_MIN_MS: '5000', EDGE_SOURCE_RECONNECT_MAX_MS: '1000' })).toThrow(/EDGE_SOURCE_RECONNECT_MAX_MS/);
  });

  it('refuses credentials without the endpoint they are for', () => {
    expect(() => EdgeConfig.fromEnv({ EDGE_HTTP_TOKEN: 't' })).toThrow(/EDGE_HTTP_TOKEN: set without EDGE_CLOUD_URL/);
  });

  it('reads the weak-link settings: data window and download stall timeout, with defaults', () => {
    const defaults = EdgeConfig.fromEnv({ EDGE_MQTT_URL: 'mqtt://broker:1883' });
    expect(defaults.mqtt?.dataWindowBytes).toBe(16 * 1024);
    expect(defaults.download.stallTimeoutMs).toBe(30_000);
    const set = EdgeConfig.fromEnv({ EDGE_MQTT_URL: 'mqtt://broker:1883', EDGE_MQTT_DATA_WINDOW_BYTES: '65536', EDGE_DOWNLOAD_STALL_S: '5' });
    expect(set.mqtt?.dataWindowBytes).toBe(65_536);
    expect(set.download.stallTimeoutMs).toBe(5_000);
    expect(() => EdgeConfig.fromEnv({ EDGE_MQTT_DATA_WINDOW_BYTES: '100', EDGE_DOWNLOAD_STALL_S: '0' })).toThrow(/EDGE_MQTT_DATA_WINDOW_BYTES[\s\S]*EDGE_DOWNLOAD_STALL_S|EDGE_DOWNLOAD_STALL_S[\s\S]*EDGE_MQTT_DATA_WINDOW_BYTES/);
  });

  it('encodes prediction batches as columns by default, as JSON when asked, and refuses another encoding', () => {
    expect(EdgeConfig.fromEnv({}).batch.encoding).toBe('columns');
    expect(EdgeConfig.fromEnv({ EDGE_PREDICTION_ENCODING: 'json' }).batch.encoding).toBe('json');
    expect(() => EdgeConfig.fromEnv({ EDGE_PREDICTION_ENCODING: 'protobuf' })).toThrow(/EDGE_PREDICTION_ENCODING/);
  });
});
