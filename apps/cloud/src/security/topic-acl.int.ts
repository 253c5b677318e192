import { DEVICE_PUBLISH_KINDS, DEVICE_SUBSCRIBE_KINDS, DEVICES_TOPIC_ROOT, deviceTopic, type DeviceTopicKind } from '@edgeloop/contracts';
import mqtt, { type MqttClient } from 'mqtt';
import { MqttEndpoint } from '../mqtt/mqtt-endpoint';
import { startCloudFixture, type CloudFixture } from '../testing/cloud-fixture';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Actor = 'own device' | 'other device' | 'cloud';
const ACTORS: Actor[] = ['own device', 'other device', 'cloud'];
/** Every device topic the ACL list names (acl.ts), each under the device `cam-a`. */
const KINDS: DeviceTopicKind[] = [...new Set<DeviceTopicKind>([...DEVICE_PUBLISH_KINDS, ...DEVICE_SUBSCRIBE_KINDS])];
const OWNER = 'cam-a';
const OTHER = 'cam-b';

const mayPublish = (actor: Actor, kind: DeviceTopicKind) =>
  actor === 'cloud' || (actor === 'own device' && (DEVICE_PUBLISH_KINDS as readonly string[]).includes(kind));
const maySubscribe = (actor: Actor, kind: DeviceTopicKind) =>
  actor === 'cloud' || (actor === 'own device' && (DEVICE_SUBSCRIBE_KINDS as readonly string[]).includes(kind));

/**
 * Who may publish and subscribe where, on both brokers: every device topic of `cam-a` × (cam-a itself,
 * another device, the cloud) for publish and for subscribe. What counts is what arrives: a publish is
 * allowed when a subscriber with the cloud's credentials receives it, a subscription when it delivers
 * what the cloud publishes afterwards.
 */
describe.each(['embedded', 'mosquitto'] as const)('device topic × actor on the %s broker', (broker) => {
  let fx: CloudFixture;
  const passwords: Record<string, string> = {};
  let cloud: { url: string; username?: string; password?: string };

  beforeAll(async () => {
    fx = await startCloudFixture({ broker });
    for (const id of [OWNER, OTHER]) {
      const res = await fx.api('/api/v1/devices', { method: 'POST', body: JSON.stringify({ id, name: id }), headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(201);
      passwords[id] = ((await res.json()) as { credentials: { mqtt: { password: string } } }).credentials.mqtt.password;
    }
    cloud = await fx.cloud.app.get(MqttEndpoint).cloudCredentials();
  }, 90_000);
  afterAll(() => fx?.stop());

  let clientSeq = 0;
  const connect = (actor: Actor): Promise<MqttClient> => {
    const options =
      actor === 'cloud'
        ? { username: cloud.username, password: cloud.password, clientId: `acl-cloud-${++clientSeq}` }
        : {
            username: actor === 'own device' ? OWNER : OTHER,
            password: passwords[actor === 'own device' ? OWNER : OTHER],
            clientId: actor === 'own device' ? OWNER : OTHER,
          };
    return mqtt.connectAsync(fx.mqttUrl!, { ...options, clean: true, reconnectPeriod: 0 }).then((client) => {
      client.on('error', () => undefined);
      return client;
    });
  };

  it('lets each actor publish exactly where the ACL list says', async () => {
    const observer = await connect('cloud');
    const seen = new Set<string>();
    observer.on('message', (_topic, payload) => seen.add((JSON.parse(payload.toString()) as { aclProbe: string }).aclProbe));
    await observer.subscribeAsync(`${DEVICES_TOPIC_ROOT}/${OWNER}/#`, { qos: 1 });

    for (const kind of KINDS) {
      for (const actor of ACTORS) {
        // aedes closes the connection of a client that publishes where it may not, Mosquitto drops the message
        const client = await connect(actor);
        const publishing = client.publishAsync(deviceTopic(OWNER, kind), JSON.stringify({ aclProbe: `${actor}:${kind}` }), { qos: 1 }).catch(() => undefined);
        await Promise.race([publishing, sleep(1000)]);
        await client.endAsync(true);
      }
    }
    const sentinel = await connect('cloud');
    await sentinel.publishAsync(deviceTopic(OWNER, 'status'), JSON.stringify({ aclProbe: 'sentinel' }), { qos: 1 });
    await sentinel.endAsync();
    const deadline = Date.now() + 5000;
    while (!seen.has('sentinel') && Date.now() < deadline) await sleep(50);
    await sleep(300);
    await observer.endAsync();

    const table = KINDS.flatMap((kind) => ACTORS.map((actor) => `${actor} publishes ${kind}: ${seen.has(`${actor}:${kind}`) ? 'arrives' : 'refused'}`));
    const expected = KINDS.flatMap((kind) => ACTORS.map((actor) => `${actor} publishes ${kind}: ${mayPublish(actor, kind) ? 'arrives' : 'refused'}`));
    expect(table).toEqual(expected);
  });

  it('lets each actor subscribe exactly where the ACL list says', async () => {
    const subscribers = await Promise.all(ACTORS.map((actor) => connect(actor)));
    const received = new Set<string>();
    subscribers.forEach((client, i) =>
      client.on('message', (_topic, payload) => received.add(`${ACTORS[i]}:${(JSON.parse(payload.toString()) as { aclProbe: string }).aclProbe}`)),
    );
    for (const kind of KINDS) {
      for (const [i, client] of subscribers.entries()) {
        if (!client.connected) throw new Error(`the ${ACTORS[i]} client was disconnected before subscribing to ${kind}`);
        await client.subscribeAsync(deviceTopic(OWNER, kind), { qos: 1 }).catch(() => undefined);
      }
    }
    const publisher = await connect('cloud');
    for (const kind of KINDS) await publisher.publishAsync(deviceTopic(OWNER, kind), JSON.stringify({ aclProbe: kind }), { qos: 1 });
    const deadline = Date.now() + 5000;
    while (!KINDS.every((kind) => received.has(`cloud:${kind}`)) && Date.now() < deadline) await sleep(50);
    await sleep(300);
    await publisher.endAsync();
    await Promise.all(subscribers.map((client) => client.endAsync(true)));

    const table = KINDS.flatMap((kind) => ACTORS.map((actor) => `${actor} subscribes ${kind}: ${received.has(`${actor}:${kind}`) ? 'receives' : 'refused'}`));
    const expected = KINDS.flatMap((kind) => ACTORS.map((actor) => `${actor} subscribes ${kind}: ${maySubscribe(actor, kind) ? 'receives' : 'refused'}`));
    expect(table).toEqual(expected);
  });
});
