import { topicFilters, topics } from '@edgeloop/contracts';
import mqtt, { type MqttClient } from 'mqtt';
import { CloudConfig } from '../config/cloud.config';
import type { DeviceRepository } from '../repositories/device.repository';
import { hashToken } from '../services/token.service';
import { CLOUD_FORWARD_WINDOW } from './cloud-forward-window';
import { MqttEndpoint } from './mqtt-endpoint';

const FLOOD = 3000;

/**
 * The embedded broker (aedes) with the cloud's flow control: a device's message published while another device's
 * backlog waits for a slow cloud reaches the cloud behind at most about one window of that backlog, not behind all
 * of it; nothing is lost and each device's order holds.
 */
describe('the embedded broker forwards to the cloud through a window (CloudForwardWindow)', () => {
  const password = 'device-password-0123456789';
  const devices = { credentials: async () => ({ mqttPasswordHash: hashToken(password) }) } as unknown as DeviceRepository;
  let endpoint: MqttEndpoint;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    endpoint = new MqttEndpoint(CloudConfig.fromEnv({ EDGELOOP_EMBEDDED_BROKER_PORT: '0' }), devices);
    await endpoint.start();
  });

  afterAll(async () => {
    for (const client of clients) await client.endAsync(true).catch(() => undefined);
    await endpoint.onApplicationShutdown();
  });

  const connect = async (options: mqtt.IClientOptions) => {
    const client = await mqtt.connectAsync(endpoint.deviceUrl(), { reconnectPeriod: 0, ...options });
    clients.push(client);
    return client;
  };

  it('lets another device through ahead of a flood the cloud has not read yet', async () => {
    // a cloud that takes its time: it reads one message at a time, each PUBACK 1 ms after the message arrived
    const cloud = await connect(
      await endpoint.cloudCredentials().then(({ username, password: secret }) => ({ username, password: secret, clientId: 'cloud-under-test' })),
    );
    const received: string[] = [];
    cloud.handleMessage = (packet, readOn) => {
      received.push(`${packet.topic.split('/')[3]} ${(packet.payload as Buffer).toString()}`);
      setTimeout(() => readOn(), 1);
    };
    await cloud.subscribeAsync(topicFilters.predictions, { qos: 1 });

    const flooding = await connect({ clientId: 'flooding', username: 'flooding', password });
    const steady = await connect({ clientId: 'steady', username: 'steady', password });
    // the flood, all of it written at once (mqtt.js keeps no in-flight limit)
    const flood = Array.from({ length: FLOOD }, (_, i) => flooding.publishAsync(topics.predictions('flooding'), String(i), { qos: 1 }));
    while (received.length < 50) await new Promise((r) => setTimeout(r, 5));
    const before = received.length;
    await steady.publishAsync(topics.predictions('steady'), 'steady', { qos: 1 });
    while (!received.includes('steady steady')) await new Promise((r) => setTimeout(r, 5));
    const ahead = received.indexOf('steady steady') - before;
    await Promise.all(flood);
    while (received.length < FLOOD + 1) await new Promise((r) => setTimeout(r, 10));

    // behind at most the window in flight, the ones aedes had let through before, and one of the flood's per turn
    expect(ahead).toBeLessThanOrEqual(2 * CLOUD_FORWARD_WINDOW);
    // nothing lost, nothing twice, the flood in its order
    const floodSeen = received.filter((r) => r.startsWith('flooding ')).map((r) => Number(r.split(' ')[1]));
    expect(floodSeen).toEqual(Array.from({ length: FLOOD }, (_, i) => i));
    expect(received.filter((r) => r === 'steady steady')).toHaveLength(1);
    expect(endpoint.forwardWindow.counters.waited).toBeGreaterThan(0);
    // every PUBACK counted back (the last ones a moment after the messages were read)
    const settledBy = Date.now() + 5000;
    while (endpoint.forwardWindow.inFlightCount > 0 && Date.now() < settledBy) await new Promise((r) => setTimeout(r, 10));
    expect(endpoint.forwardWindow.inFlightCount).toBe(0);
    await cloud.endAsync();
  }, 60_000);

  it('lets a waiting publish go once its wait is too long, and everything when no cloud is connected', async () => {
    // a cloud that stops acknowledging: it holds every message's PUBACK
    const stuck = await connect(
      await endpoint.cloudCredentials().then(({ username, password: secret }) => ({ username, password: secret, clientId: 'stuck-cloud' })),
    );
    let got = 0;
    stuck.handleMessage = (_packet, _readOn) => {
      got++;
    };
    await stuck.subscribeAsync(topicFilters.predictions, { qos: 1 });
    const device = await connect({ clientId: 'patient', username: 'patient', password });
    const tooLongBefore = endpoint.forwardWindow.counters.waitedTooLong;
    // the window fills (the broker's own in-flight to this client is unacknowledged), then the rest waits
    const published = Array.from({ length: CLOUD_FORWARD_WINDOW + 20 }, (_, i) => device.publishAsync(topics.predictions('patient'), String(i), { qos: 1 }));
    const started = Date.now();
    await Promise.all(published);
    // the broker acknowledged every one to the device: those past the window after their longest wait
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(endpoint.forwardWindow.counters.waitedTooLong - tooLongBefore).toBeGreaterThan(0);
    expect(got).toBeGreaterThan(0);
    // the cloud goes: nothing waits for it any more
    await stuck.endAsync(true);
    const t = Date.now();
    await device.publishAsync(topics.predictions('patient'), 'after', { qos: 1 });
    expect(Date.now() - t).toBeLessThan(500);
    expect(endpoint.forwardWindow.depth).toBe(0);
  }, 30_000);
});
