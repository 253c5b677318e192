import { allDevicesFilter, parseDeviceMessage, topicFilters, topics, type AckedItem } from '@edgeloop/contracts';
import mqtt, { type MqttClient } from 'mqtt';
import { SqlDatabase } from '../database/sql-database';
import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';
import { makeBatch, STABLE } from '../testing/prediction-batches';
import { DeviceChannel } from './device-channel';
import { DynsecAdmin } from './dynsec-admin';
import { MqttEndpoint } from './mqtt-endpoint';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const json = async (res: Response | Promise<Response>): Promise<any> => (await (await res).json()) as any;
const EPOCH = 'AckTestEpoch0001';
const FRAMES = 3;
const MODEL = { name: 'face-id', version: 1 };

/**
 * End-to-end acknowledgement: the cloud acks every batch it accepted (a job in Redis), duplicates and
 * dead-lettered ones included, on the device's own `acks` topic, which only that device may read. A device
 * that keeps a batch until that ack — sending it again after a timeout — loses nothing while the broker
 * acknowledges and drops its batches (the cloud's subscription gone for 2 s), and the cloud counts each once.
 * Mosquitto only: the acks do not depend on the broker, and the ACLs of both brokers for every topic are
 * checked by `security/topic-acl.int.ts`.
 */
describe('application acks from the cloud (Mosquitto with dynamic security, a share group)', () => {
  const DEVICE = 'cam-ack';
  let fx: CloudFixture;
  let device: MqttClient;
  const acks: AckedItem[] = [];
  let invalidAcks = 0;
  let ownGrant: number[] = [];

  beforeAll(async () => {
    fx = await startCloudFixture({
      broker: 'mosquitto',
      env: { EDGELOOP_AGGREGATE_BUCKET_SECONDS: '60', MQTT_CLIENT_ID: 'edgeloop-cloud-acks', MQTT_SHARE_GROUP: 'edgeloop-cloud' },
    });
    const body = await json(
      fx.api('/api/v1/devices', { method: 'POST', body: JSON.stringify({ id: DEVICE, name: DEVICE }), headers: { 'content-type': 'application/json' } }),
    );
    device = await mqtt.connectAsync(fx.mqttUrl!, {
      clientId: DEVICE,
      username: DEVICE,
      password: body.credentials.mqtt.password,
      clean: false,
      reconnectPeriod: 200,
    });
    device.on('error', () => undefined);
    device.on('message', (topic, payload) => {
      const parsed = topic === topics.acks(DEVICE) ? parseDeviceMessage('acks', payload) : undefined;
      if (parsed?.ok && parsed.value.deviceId === DEVICE) acks.push(...parsed.value.acks);
      else invalidAcks++;
    });
    ownGrant = (await device.subscribeAsync(topics.acks(DEVICE), { qos: 1 })).map((s) => s.qos);
  }, 120_000);
  afterAll(async () => {
    await device?.endAsync(true);
    await fx?.stop();
  });

  it('lets a device subscribe to its own acks only', async () => {
    expect(ownGrant).toEqual([1]);
    // mqtt.js rejects a SUBSCRIBE with any refused filter; the SUBACK it carries has a code per filter
    const granted = await device.subscribeAsync([topics.acks('cam-someone-else'), allDevicesFilter('acks')], { qos: 1 }).then(
      (subscriptions) => subscriptions.map((s) => s.qos),
      (err: Error & { packet?: { granted?: number[] } }) => err.packet?.granted,
    );
    expect(granted).toEqual([128, 128]);
  });

  it('acks every batch once accepted; one the broker dropped is sent again and counted once', async () => {
    const channel = fx.cloud.app.get(DeviceChannel, { strict: false });
    const cloud = channel as unknown as { client: MqttClient; filters: string[] };
    const db = fx.cloud.app.get(SqlDatabase, { strict: false });
    const payload = (seq: number) => JSON.stringify({ ...makeBatch(DEVICE, seq, MODEL, STABLE, { frames: FRAMES }), epoch: EPOCH });
    const acked = (seq: number) => acks.some((a) => a.kind === 'predictions' && a.seq === seq && a.epoch === EPOCH);
    const sentAt = new Map<number, number>();
    let resent = 0;
    const send = async (seq: number) => {
      if (sentAt.has(seq)) resent++;
      sentAt.set(seq, Date.now());
      await device.publishAsync(topics.predictions(DEVICE), payload(seq), { qos: 1 });
    };
    /** The device's outbox, reduced: batches kept until acked, sent again 1 s after their last send. */
    const deliver = async (from: number, to: number, during?: () => Promise<void>) => {
      for (let seq = from; seq <= to; seq++) {
        await send(seq);
        await sleep(100);
      }
      await during?.();
      const deadline = Date.now() + 30_000;
      for (;;) {
        const missing = [...sentAt.keys()].filter((seq) => !acked(seq));
        if (missing.length === 0) return;
        if (Date.now() > deadline) throw new Error(`never acked: ${missing.join(', ')}`);
        for (const seq of missing) if (Date.now() - sentAt.get(seq)! > 1000) await send(seq);
        await sleep(100);
      }
    };

    await deliver(1, 5);
    expect(resent).toBe(0);

    // the cloud's subscription is gone for 2 s: the broker acknowledges the device's batches and drops them
    const work = cloud.filters.filter((f) => f.endsWith(topicFilters.predictions));
    expect(work).toHaveLength(1);
    await cloud.client.unsubscribeAsync(work);
    const acksBefore = acks.length;
    await deliver(6, 15, async () => {
      await sleep(2000);
      expect(acks.length).toBe(acksBefore);
      await cloud.client.subscribeAsync(work, { qos: 1 });
    });
    expect(resent).toBeGreaterThanOrEqual(10);

    // a duplicate of an accepted batch is acked again; a batch that fails validation is dead-lettered and acked
    const ackedThree = acks.filter((a) => a.kind === 'predictions' && a.seq === 3).length;
    await device.publishAsync(topics.predictions(DEVICE), payload(3), { qos: 1 });
    await device.publishAsync(topics.predictions(DEVICE), JSON.stringify({ v: 1, deviceId: DEVICE, seq: 99, epoch: EPOCH, items: 'not a list' }), { qos: 1 });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !(acked(99) && acks.filter((a) => a.kind === 'predictions' && a.seq === 3).length > ackedThree)) await sleep(100);
    expect(acked(99)).toBe(true);
    expect(acks.filter((a) => a.kind === 'predictions' && a.seq === 3).length).toBe(ackedThree + 1);

    // every batch stored once, and its frames counted once
    const counted = async () => {
      const rows = await db.query<{ seq: string }>('select seq from prediction_batches where device_id = $1', [DEVICE]);
      const frames = await db.query<{ frames: string | null }>('select sum(frames) as frames from prediction_aggregates where device_id = $1', [DEVICE]);
      return { seqs: rows.map((r) => Number(r.seq)).sort((a, b) => a - b), frames: Number(frames[0]?.frames ?? 0) };
    };
    const until = Date.now() + 20_000;
    let result = await counted();
    while (Date.now() < until && result.seqs.length < 15) {
      await sleep(200);
      result = await counted();
    }
    await sleep(500);
    result = await counted();
    expect(result).toEqual({ seqs: Array.from({ length: 15 }, (_, i) => i + 1), frames: 15 * FRAMES });
    expect(invalidAcks).toBe(0);
    expect(channel.ackCounters.items).toBeGreaterThanOrEqual(17);
    process.stdout.write(`device-acks: ${resent} batches sent again, ${channel.ackCounters.items} acks in ${channel.ackCounters.messages} messages\n`);
  }, 90_000);

  it('gives a device role made before acks existed its acks ACLs at boot (dynamic security)', async () => {
    const admin = new DynsecAdmin(await fx.cloud.app.get(MqttEndpoint).cloudCredentials());
    await admin.connect();
    const command = (admin as unknown as { command(c: Record<string, unknown>, tolerated: string[]): Promise<unknown> }).command.bind(admin);
    // the device itself subscribes again (dynamic security checks a subscription when it is made)
    const subscribeAcks = async () => {
      await device.unsubscribeAsync(topics.acks(DEVICE));
      return device.subscribeAsync(topics.acks(DEVICE), { qos: 1 }).then(
        (granted) => granted.map((g) => g.qos),
        (err: Error & { packet?: { granted?: number[] } }) => err.packet?.granted,
      );
    };
    try {
      // the role as it was before: no acks
      await command({ command: 'removeRoleACL', rolename: `device-${DEVICE}`, acltype: 'subscribeLiteral', topic: topics.acks(DEVICE) }, []);
      await command({ command: 'removeRoleACL', rolename: `device-${DEVICE}`, acltype: 'publishClientReceive', topic: topics.acks(DEVICE) }, []);
      expect(await subscribeAcks()).toEqual([128]);
      expect(await admin.ensureDeviceRoles()).toBe(2);
      expect(await subscribeAcks()).toEqual([1]);
      expect(await admin.ensureDeviceRoles()).toBe(0);
    } finally {
      await admin.close();
    }
  });
});
