import { topics } from '@edgeloop/contracts';
import mqtt from 'mqtt';
import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';
import { makeBatch, STABLE } from '../testing/prediction-batches';

const json = async (res: Response | Promise<Response>): Promise<any> => (await (await res).json()) as any;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Every prediction produced is counted exactly once while Redis (append-only file on) is restarted
 * mid-stream and the cloud process is restarted mid-stream: Mosquitto keeps the cloud's persistent
 * session, the PUBACK waits until the batch is a job in Redis, and SQL drops redeliveries by (device, seq).
 */
describe('exactly-once prediction counting across Redis and cloud restarts', () => {
  let fx: CloudFixture;

  beforeAll(async () => {
    fx = await startCloudFixture({
      broker: 'mosquitto',
      persistentSql: true,
      env: { MQTT_CLIENT_ID: 'edgeloop-cloud-1', EDGELOOP_AGGREGATE_BUCKET_SECONDS: '1', EDGELOOP_INGEST_CONCURRENCY: '2' },
    });
  }, 60_000);
  afterAll(() => fx?.stop());

  it('counts every batch once', async () => {
    const body = await json(fx.api('/api/v1/devices', { method: 'POST', body: JSON.stringify({ id: 'cam-x', name: 'cam-x' }), headers: { 'content-type': 'application/json' } }));
    const device = await mqtt.connectAsync(fx.mqttUrl!, { clientId: 'cam-x', username: 'cam-x', password: body.credentials.mqtt.password, clean: false, reconnectPeriod: 200 });
    const model = { name: 'face-id', version: 1 };
    const batches = 60;
    const framesPerBatch = 10;
    const started = Date.now();
    const events: Promise<void>[] = [];
    const schedule = (at: number, what: () => Promise<void>) =>
      events.push(
        (async () => {
          await sleep(Math.max(0, started + at - Date.now()));
          await what();
        })(),
      );
    schedule(1500, async () => fx.redis!.halt());
    schedule(3500, async () => fx.redis!.resume());
    schedule(5000, () => fx.restart());
    for (let seq = 1; seq <= batches; seq++) {
      await device.publishAsync(topics.predictions('cam-x'), JSON.stringify(makeBatch('cam-x', seq, model, STABLE, { frames: framesPerBatch })), { qos: 1 });
      await sleep(130);
    }
    await Promise.all(events);
    await device.endAsync();
    const deadline = Date.now() + 60_000;
    let frames = 0;
    while (Date.now() < deadline) {
      const rows = (await json(fx.api('/api/v1/metrics/predictions?device=cam-x&bucket=day').catch(() => new Response('{"rows":[]}')))).rows ?? [];
      frames = rows.reduce((n: number, r: any) => n + r.frames, 0);
      if (frames >= batches * framesPerBatch) break;
      await sleep(300);
    }
    await sleep(1500);
    const rows = (await json(fx.api('/api/v1/metrics/predictions?device=cam-x&bucket=day'))).rows;
    expect(rows.reduce((n: number, r: any) => n + r.frames, 0)).toBe(batches * framesPerBatch);
    const prometheus = await (await fetch(`${fx.url}/metrics`)).text();
    expect(prometheus).toMatch(new RegExp(`edgeloop_ingest_total\\{counter="batches"\\} ${batches}\\b`));
    expect(prometheus).toMatch(new RegExp(`edgeloop_ingest_total\\{counter="frames"\\} ${batches * framesPerBatch}\\b`));
  }, 120_000);
});
