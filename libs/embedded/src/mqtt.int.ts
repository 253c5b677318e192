import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { startEmbeddedBroker, startMosquitto, stopAllStarted, type EmbeddedBroker, type MosquittoServer } from '@edgeloop/embedded';
import { waitUntilStopped } from '@edgeloop/harness';

// backstop: whatever a failing test left running
afterAll(() => stopAllStarted());

const clients: MqttClient[] = [];

function client(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const mqttClient = connect(url, { reconnectPeriod: 200, connectTimeout: 2_000, ...options });
  clients.push(mqttClient);
  mqttClient.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    mqttClient.once('connect', () => resolve(mqttClient));
    mqttClient.once('error', reject);
  });
}

function nextMessage(subscriber: MqttClient, topic: string): Promise<{ payload: string; qos: number }> {
  return new Promise((resolve) => {
    const onMessage = (received: string, payload: Buffer, packet: { qos: number }): void => {
      if (received !== topic) return;
      subscriber.removeListener('message', onMessage);
      resolve({ payload: payload.toString('utf8'), qos: packet.qos });
    };
    subscriber.on('message', onMessage);
  });
}

async function expectQos1Delivery(url: string, topic: string): Promise<void> {
  const subscriber = await client(url);
  await subscriber.subscribeAsync(topic, { qos: 1 });
  const publisher = await client(url);
  const received = nextMessage(subscriber, topic);
  // mqtt.js resolves a QoS 1 publish only once the broker's PUBACK arrived
  const sent = await publisher.publishAsync(topic, 'hello edge', { qos: 1 });
  expect(sent).toMatchObject({ cmd: 'publish', qos: 1, topic });
  await expect(received).resolves.toEqual({ payload: 'hello edge', qos: 1 });
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((mqttClient) => mqttClient.endAsync(true)));
});

describe('startMosquitto', () => {
  let mosquitto: MosquittoServer;

  beforeAll(async () => {
    mosquitto = await startMosquitto();
  });

  afterAll(async () => {
    await mosquitto?.stop();
  });

  it('delivers a QoS 1 message from one client to another', async () => {
    expect(mosquitto.port).not.toBe(1883);
    await expectQos1Delivery(mosquitto.url, 'edgeloop/test/mosquitto');
  });

  it('restart() comes back on the same port; clients reconnect and resubscribe', async () => {
    const subscriber = await client(mosquitto.url, { clientId: 'harness-sub', clean: false });
    await subscriber.subscribeAsync('edgeloop/test/restart', { qos: 1 });
    const publisher = await client(mosquitto.url);
    const port = mosquitto.port;

    const subscriberBack = new Promise<void>((resolve) => subscriber.once('connect', () => resolve()));
    const publisherBack = new Promise<void>((resolve) => publisher.once('connect', () => resolve()));
    await mosquitto.halt();
    expect(mosquitto.running).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 300)); // down "for a while"
    expect(subscriber.connected).toBe(false);
    await mosquitto.resume();
    expect(mosquitto.port).toBe(port);
    await Promise.all([subscriberBack, publisherBack]);

    const received = nextMessage(subscriber, 'edgeloop/test/restart');
    await publisher.publishAsync('edgeloop/test/restart', 'after restart', { qos: 1 });
    await expect(received).resolves.toEqual({ payload: 'after restart', qos: 1 });
  });

  it('keeps a persistent session queue across restart() (persistence on)', async () => {
    const subscriber = await client(mosquitto.url, { clientId: 'harness-offline', clean: false });
    await subscriber.subscribeAsync('edgeloop/test/queued', { qos: 1 });
    await subscriber.endAsync();
    const publisher = await client(mosquitto.url);
    await publisher.publishAsync('edgeloop/test/queued', 'queued while offline', { qos: 1 });
    await publisher.endAsync();

    await mosquitto.restart();

    const back = connect(mosquitto.url, { clientId: 'harness-offline', clean: false, reconnectPeriod: 0 });
    clients.push(back);
    back.on('error', () => undefined);
    await expect(nextMessage(back, 'edgeloop/test/queued')).resolves.toEqual({ payload: 'queued while offline', qos: 1 });
  });

  it('stop() ends the process and frees the port', async () => {
    const other = await startMosquitto();
    const { pid, port } = other;
    await other.stop();
    await expect(waitUntilStopped({ pid, port })).resolves.toEqual({ processGone: true, portFree: true });
  });
});

describe('startEmbeddedBroker', () => {
  let broker: EmbeddedBroker;
  const publishedTopics: string[] = [];

  beforeAll(async () => {
    broker = await startEmbeddedBroker({
      authorizePublish: (_client, packet, callback) => {
        publishedTopics.push(packet.topic);
        callback(packet.topic.startsWith('forbidden/') ? new Error('not allowed') : null);
      },
    });
  });

  afterAll(async () => {
    await broker?.stop();
  });

  it('delivers a QoS 1 message from one client to another', async () => {
    await expectQos1Delivery(broker.url, 'edgeloop/test/embedded');
  });

  it('passes the ACL hooks to aedes', async () => {
    expect(publishedTopics).toContain('edgeloop/test/embedded');
    const publisher = await client(broker.url);
    const closed = new Promise<void>((resolve) => publisher.once('close', () => resolve()));
    publisher.publish('forbidden/topic', 'x', { qos: 1 });
    await closed; // aedes disconnects a client whose publish is refused
  });

  it('stop() disconnects clients and frees the port', async () => {
    const other = await startEmbeddedBroker();
    const connected = await client(other.url, { reconnectPeriod: 0 });
    const closed = new Promise<void>((resolve) => connected.once('close', () => resolve()));
    await other.stop();
    await closed;
    await expect(waitUntilStopped({ port: other.port })).resolves.toEqual({ processGone: true, portFree: true });
  });
});
