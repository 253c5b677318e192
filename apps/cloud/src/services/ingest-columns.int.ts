import { encodePredictionColumns, parseDeviceMessage, topics, type AckedItem, type PredictionBatch } from '@edgeloop/contracts';
import mqtt, { type MqttClient } from 'mqtt';
import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';
import { makeBatch, STABLE } from '../testing/prediction-batches';

const json = async (res: Response | Promise<Response>): Promise<any> => (await (await res).json()) as any;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DEVICE = 'cam-cols';
const EPOCH = 'ColumnsEpoch0001';
const MODEL = { name: 'face-id', version: 1 };

/**
 * Prediction batches in the `columns` encoding (what edges send by default) through the real ingest: counted
 * in the aggregates like JSON, a duplicate once, acked on the device's `acks` topic; a columns batch with an
 * invalid value and one that is not readable are dead-lettered with the reason, and the queue goes on.
 */
describe('ingest of columns-encoded prediction batches (embedded broker, Redis/BullMQ, SQL)', () => {
  let fx: CloudFixture;
  let device: MqttClient;
  const acks: AckedItem[] = [];

  beforeAll(async () => {
    fx = await startCloudFixture({ broker: 'embedded', env: { EDGELOOP_AGGREGATE_BUCKET_SECONDS: '1' } });
    const body = await json(
      fx.api('/api/v1/devices', { method: 'POST', body: JSON.stringify({ id: DEVICE, name: DEVICE }), headers: { 'content-type': 'application/json' } }),
    );
    device = await mqtt.connectAsync(fx.mqttUrl!, { clientId: DEVICE, username: DEVICE, password: body.credentials.mqtt.password, clean: false });
    device.on('error', () => undefined);
    device.on('message', (topic, payload) => {
      const parsed = parseDeviceMessage('acks', payload);
      if (topic === topics.acks(DEVICE) && parsed.ok) acks.push(...parsed.value.acks);
    });
    await device.subscribeAsync(topics.acks(DEVICE), { qos: 1 });
  }, 120_000);
  afterAll(async () => {
    await device?.endAsync(true);
    await fx?.stop();
  });

  it('counts columns batches like JSON ones, once each, and dead-letters a bad one with its reason', async () => {
    const end = Date.now();
    const batch = (seq: number, frames: number): PredictionBatch => ({
      ...makeBatch(DEVICE, seq, MODEL, STABLE, { frames, end: end + seq * 1000 }),
      epoch: EPOCH,
    });
    const publish = (payload: Uint8Array | string) => device.publishAsync(topics.predictions(DEVICE), Buffer.from(payload), { qos: 1 });
    await publish(encodePredictionColumns(batch(1, 20)));
    await publish(encodePredictionColumns(batch(2, 20)));
    await publish(encodePredictionColumns(batch(2, 20))); // a duplicate: counted once
    await publish(JSON.stringify(batch(3, 5))); // JSON still accepted beside columns
    const invalid = batch(4, 10);
    invalid.items[0]!.faces[0]!.detScore = 1.5;
    await publish(encodePredictionColumns(invalid));
    await publish(encodePredictionColumns(batch(5, 10)).subarray(0, 40)); // cut short: not readable
    await publish(encodePredictionColumns(batch(6, 10)));

    const frames = async () =>
      ((await json(fx.api(`/api/v1/metrics/predictions?device=${DEVICE}&bucket=hour`))).rows as Array<{ frames: number }>).reduce((n, r) => n + r.frames, 0);
    const deadline = Date.now() + 30_000;
    while ((await frames()) < 55 && Date.now() < deadline) await sleep(200);
    await sleep(500);
    expect(await frames()).toBe(20 + 20 + 5 + 10);

    const { deadLetters } = await json(fx.api(`/api/v1/dead-letters?device=${DEVICE}&limit=10`));
    const byCode = new Map((deadLetters as Array<{ code: string; message: string }>).map((d) => [d.code, d.message]));
    expect(byCode.get('invalid_payload')).toContain('items[0].faces[0].detScore');
    expect(byCode.get('invalid_encoding')).toMatch(/the columns payload is not readable/);

    // acked: every batch stored, the duplicate again, and the invalid one that still names its seq (dead-lettered);
    // the unreadable one names nothing and is not acked
    while (acks.length < 6 && Date.now() < deadline) await sleep(100);
    await sleep(300);
    const seqs = acks.map((a) => (a.kind === 'predictions' && a.epoch === EPOCH ? a.seq : -1)).sort((a, b) => a - b);
    expect(seqs).toEqual([1, 2, 2, 3, 4, 6]);
  });
});
