import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { dynamicSecurityPluginPath, requireBinary, startMosquitto, stopAllStarted } from '@edgeloop/embedded';

afterAll(() => stopAllStarted());

const secrets = mkdtempSync(join(tmpdir(), 'edgeloop-mosquitto-auth-'));
afterAll(() => rmSync(secrets, { recursive: true, force: true }));

/** Resolves with the CONNACK outcome: 'connected' or the refusal's reason code. */
function tryConnect(url: string, options: IClientOptions): Promise<{ outcome: 'connected' | number; client: MqttClient }> {
  const client = connect(url, { reconnectPeriod: 0, connectTimeout: 2_000, ...options });
  return new Promise((resolve) => {
    client.once('connect', () => resolve({ outcome: 'connected', client }));
    client.once('error', (error: Error & { code?: number }) => resolve({ outcome: error.code ?? -1, client }));
  });
}

describe('startMosquitto with authentication', () => {
  it('password_file + acl_file: refuses anonymous clients, accepts a device and confines it', async () => {
    const passwordFile = join(secrets, 'passwords');
    execFileSync(requireBinary('mosquitto_passwd'), ['-b', '-c', passwordFile, 'device-1', 'secret-1']);
    execFileSync(requireBinary('mosquitto_passwd'), ['-b', passwordFile, 'device-2', 'secret-2']);
    const aclFile = join(secrets, 'acl');
    writeFileSync(aclFile, 'pattern readwrite devices/%u/#\n');
    const mosquitto = await startMosquitto({ config: { allowAnonymous: false, passwordFile, aclFile } });
    try {
      const anonymous = await tryConnect(mosquitto.url, {});
      expect(anonymous.outcome).toBe(5); // not authorised
      anonymous.client.end(true);

      const wrong = await tryConnect(mosquitto.url, { username: 'device-1', password: 'nope' });
      expect(wrong.outcome).not.toBe('connected');
      wrong.client.end(true);

      const device1 = await tryConnect(mosquitto.url, { username: 'device-1', password: 'secret-1' });
      const device2 = await tryConnect(mosquitto.url, { username: 'device-2', password: 'secret-2' });
      expect([device1.outcome, device2.outcome]).toEqual(['connected', 'connected']);
      await device2.client.subscribeAsync('devices/device-2/#', { qos: 1 });
      const received: string[] = [];
      device2.client.on('message', (_topic, payload) => received.push(payload.toString()));
      // device-1 may not publish under device-2's id: the broker drops it (MQTT 3.1.1 has no refusal)
      await device1.client.publishAsync('devices/device-2/desired', 'forged', { qos: 1 });
      await device2.client.publishAsync('devices/device-2/reported', 'own', { qos: 1 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(received).toEqual(['own']);
      await Promise.all([device1.client.endAsync(), device2.client.endAsync()]);
    } finally {
      await mosquitto.stop();
    }
  });

  const plugin = dynamicSecurityPluginPath();
  (plugin ? it : it.skip)('dynamic-security plugin: the admin client connects, anonymous does not', async () => {
    const configFile = join(secrets, 'dynamic-security.json');
    execFileSync(requireBinary('mosquitto_ctrl'), ['dynsec', 'init', configFile, 'admin', 'admin-password']);
    const mosquitto = await startMosquitto({
      config: { allowAnonymous: false, plugin, pluginOptions: { config_file: configFile } },
    });
    try {
      const anonymous = await tryConnect(mosquitto.url, {});
      expect(anonymous.outcome).not.toBe('connected');
      anonymous.client.end(true);
      const admin = await tryConnect(mosquitto.url, { username: 'admin', password: 'admin-password' });
      expect(admin.outcome).toBe('connected');
      await admin.client.endAsync();
    } finally {
      await mosquitto.stop();
    }
  });
});
