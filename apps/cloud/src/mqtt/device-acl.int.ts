import { DEVICES_TOPIC_ROOT, topics } from '@edgeloop/contracts';
import mqtt from 'mqtt';
import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';
import { MqttEndpoint } from './mqtt-endpoint';

const CLOUD_CLIENT_ID = 'cloud-main';

/**
 * Device takeover and topic reach, on both brokers: the broker rules come from one list of topics
 * (libs/contracts acl.ts), and no device may carry a client id the cloud uses.
 */
describe.each(['embedded', 'mosquitto'] as const)('device identity and topic reach on the %s broker', (broker) => {
  let fx: CloudFixture;

  const provision = (id: string) =>
    fx.api('/api/v1/devices', { method: 'POST', body: JSON.stringify({ id, name: id }), headers: { 'content-type': 'application/json' } });

  beforeAll(async () => {
    fx = await startCloudFixture({ broker, env: { MQTT_CLIENT_ID: CLOUD_CLIENT_ID } });
  });
  afterAll(async () => {
    await fx?.stop();
  });

  it.each(['edgeloop-cloud', 'edgeloop-cloud-1', 'edgeloop-admin', 'EdgeLoop-dynsec-1', CLOUD_CLIENT_ID])(
    'refuses to provision a device with the reserved id %s (400), so it cannot take over the cloud session',
    async (id) => {
      const res = await provision(id);
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: string; message: string; details: Array<{ path: string }> };
      expect(body).toMatchObject({ error: 'invalid_body', details: [{ path: 'id' }] });
      expect(body.message).toMatch(/reserved/);
      expect((await fx.api(`/api/v1/devices/${id}`)).status).toBe(404);
    },
  );

  it('lets a device publish only its four edge-to-cloud topics: not its own desired, nor any other level under its id', async () => {
    const res = await provision('cam-reach');
    expect(res.status).toBe(201);
    const credentials = ((await res.json()) as { credentials: { mqtt: { username: string; password: string; clientId: string } } }).credentials.mqtt;
    const cloud = await fx.cloud.app.get(MqttEndpoint).cloudCredentials();
    const observer = await mqtt.connectAsync(cloud.url, { ...cloud, clientId: 'acl-observer', reconnectPeriod: 0 });
    const seen: string[] = [];
    observer.on('message', (topic) => seen.push(topic));
    await observer.subscribeAsync(`${DEVICES_TOPIC_ROOT}/cam-reach/#`, { qos: 1 });

    const own = `${DEVICES_TOPIC_ROOT}/cam-reach`;
    const forbidden = [topics.desired('cam-reach'), `${own}/extra`, `${own}/reported/deeper`, `${own}/desired/x`];
    for (const topic of forbidden) {
      // aedes drops the connection of a client that publishes where it may not, Mosquitto drops the message: a fresh session each
      const device = await mqtt.connectAsync(fx.mqttUrl!, { ...credentials, reconnectPeriod: 0 });
      device.on('error', () => undefined);
      const publishing = device.publishAsync(topic, '{"forged":true}', { qos: 1, retain: true }).catch(() => undefined);
      await Promise.race([publishing, new Promise((r) => setTimeout(r, 1000))]);
      await device.endAsync(true);
    }
    const device = await mqtt.connectAsync(fx.mqttUrl!, { ...credentials, reconnectPeriod: 0 });
    await device.publishAsync(topics.status('cam-reach'), JSON.stringify({ v: 1, status: 'online', ts: Date.now() }), { qos: 1 });
    const deadline = Date.now() + 5000;
    while (!seen.includes(topics.status('cam-reach')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await device.endAsync();
    await new Promise((r) => setTimeout(r, 300));
    await observer.endAsync();
    expect(seen).toEqual([topics.status('cam-reach')]);
  });
});
