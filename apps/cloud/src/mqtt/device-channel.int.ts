import { topics } from '@edgeloop/contracts';
import Redis from 'ioredis';
import mqtt from 'mqtt';
import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';
import { makeBatch, STABLE } from '../testing/prediction-batches';

const json = async (res: Response | Promise<Response>): Promise<any> => (await (await res).json()) as any;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A batch is acknowledged to the device only once it is a job in Redis. Redis here stays up but refuses
 * every write (`min-replicas-to-write 1` with no replica: NOREPLICAS), so enqueueing fails with an error
 * rather than waiting: the channel must hold the PUBACK and retry, and every batch is counted once Redis
 * takes writes again. Acknowledging a failed batch (the old behaviour) loses those batches.
 */
describe('device channel: no PUBACK for a batch that is not stored', () => {
  let fx: CloudFixture;
  let admin: Redis;

  beforeAll(async () => {
    fx = await startCloudFixture({ broker: 'mosquitto', env: { EDGELOOP_AGGREGATE_BUCKET_SECONDS: '1' } });
    admin = new Redis(fx.redis!.url, { maxRetriesPerRequest: null });
    admin.on('error', () => undefined);
  }, 60_000);
  afterAll(async () => {
    await admin?.quit().catch(() => undefined);
    await fx?.stop();
  });

  it('counts every batch published while Redis refused writes, once', async () => {
    const body = await json(
      fx.api('/api/v1/devices', { method: 'POST', body: JSON.stringify({ id: 'cam-nr', name: 'cam-nr' }), headers: { 'content-type': 'application/json' } }),
    );
    const device = await mqtt.connectAsync(fx.mqttUrl!, { clientId: 'cam-nr', username: 'cam-nr', password: body.credentials.mqtt.password, reconnectPeriod: 200 });
    const model = { name: 'face-id', version: 1 };
    const framesPerBatch = 10;
    let seq = 0;
    const publish = async (n: number) => {
      for (let i = 0; i < n; i++) {
        seq++;
        // QoS 1 without waiting for the PUBACK: the device keeps publishing while the cloud holds acknowledgements
        void device.publishAsync(topics.predictions('cam-nr'), JSON.stringify(makeBatch('cam-nr', seq, model, STABLE, { frames: framesPerBatch })), { qos: 1 });
        await sleep(50);
      }
    };
    await publish(5);
    await admin.config('SET', 'min-replicas-to-write', '1');
    try {
      await publish(10);
      await sleep(2000);
      const prometheus = await (await fetch(`${fx.url}/metrics`)).text();
      // the channel is retrying the batch Redis refused, not acknowledging it
      expect(Number(/edgeloop_mqtt_messages\{outcome="handler_retry"\} (\d+)/.exec(prometheus)?.[1] ?? 0)).toBeGreaterThan(0);
    } finally {
      await admin.config('SET', 'min-replicas-to-write', '0');
    }
    await publish(5);
    const expected = seq * framesPerBatch;
    const deadline = Date.now() + 45_000;
    let frames = 0;
    while (Date.now() < deadline && frames < expected) {
      const rows = (await json(fx.api('/api/v1/metrics/predictions?device=cam-nr&bucket=day'))).rows ?? [];
      frames = rows.reduce((n: number, r: any) => n + r.frames, 0);
      if (frames < expected) await sleep(300);
    }
    await sleep(1000);
    const rows = (await json(fx.api('/api/v1/metrics/predictions?device=cam-nr&bucket=day'))).rows;
    expect(rows.reduce((n: number, r: any) => n + r.frames, 0)).toBe(expected);
    const prometheus = await (await fetch(`${fx.url}/metrics`)).text();
    expect(prometheus).toMatch(new RegExp(`edgeloop_ingest_total\\{counter="batches"\\} ${seq}\\b`));
    await device.endAsync();
  }, 120_000);
});
