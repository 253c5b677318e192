import { topics, verifyWebhook, WEBHOOK_HEADERS } from '@edgeloop/contracts';
import mqtt, { type MqttClient } from 'mqtt';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { accumulateBatch, createWindowStats } from '@edgeloop/drift';
import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';
import { DARK_BLURRED_STRANGERS, makeBatch, STABLE, type TrafficProfile } from '../testing/prediction-batches';
import { baseFiles, makeHead, uploadForm } from '../testing/upload-form';

const json = async (res: Response | Promise<Response>): Promise<any> => (await (await res).json()) as any;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(last).slice(0, 800)}`);
    await sleep(200);
    last = await probe();
  }
  return last;
}

interface Received {
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Prediction ingest (MQTT → BullMQ → SQL aggregates), dedupe, invalid batches, drift and its signed webhook. */
describe('ingest and drift (real Redis/BullMQ, broker, SQL, webhook receiver)', () => {
  let fx: CloudFixture;
  let receiver: Server;
  let receiverUrl: string;
  const received: Received[] = [];
  const devices = new Map<string, MqttClient>();
  const secret = 'a-webhook-secret-of-some-length';

  async function device(id: string): Promise<MqttClient> {
    const body = await json(
      fx.api('/api/v1/devices', { method: 'POST', body: JSON.stringify({ id, name: id, group: 'lab' }), headers: { 'content-type': 'application/json' } }),
    );
    const client = await mqtt.connectAsync(fx.mqttUrl!, { clientId: id, username: id, password: body.credentials.mqtt.password, clean: false });
    devices.set(id, client);
    return client;
  }

  const publish = (client: MqttClient, batch: object) => client.publishAsync(topics.predictions((batch as { deviceId: string }).deviceId), JSON.stringify(batch), { qos: 1 });

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    fx = await startCloudFixture({
      broker: 'embedded',
      env: {
        EDGELOOP_AGGREGATE_BUCKET_SECONDS: '1',
        EDGELOOP_DRIFT_WINDOW_SECONDS: '3',
        EDGELOOP_DRIFT_CHECK_SECONDS: '1',
        EDGELOOP_DRIFT_CONFIRM_WINDOWS: '2',
        EDGELOOP_WEBHOOK_ALLOW: '127.0.0.0/8',
        EDGELOOP_WEBHOOK_BACKOFF_MS: '100',
      },
    });
    for (const [i, seed] of [1, 2].entries()) {
      const res = await fx.api('/api/v1/models/face-id/versions', { method: 'POST', body: uploadForm({ ...baseFiles, head: makeHead(['franck'], seed) }, { labels: ['franck'] }) });
      expect((await res.json() as any).version).toBe(i + 1);
    }
    const hook = await fx.api('/api/v1/webhooks', {
      method: 'POST',
      body: JSON.stringify({ url: receiverUrl, events: ['drift.detected'], secret }),
      headers: { 'content-type': 'application/json' },
    });
    expect(hook.status).toBe(201);
  }, 60_000);

  afterAll(async () => {
    for (const client of devices.values()) await client.endAsync(true);
    await fx?.stop();
    await new Promise((r) => receiver.close(r));
  });

  it('aggregates batches per model version, counts a duplicate once and an invalid batch as invalid', async () => {
    const client = await device('agg-1');
    const model = { name: 'face-id', version: 1 };
    const end = Date.now();
    await publish(client, makeBatch('agg-1', 1, model, STABLE, { frames: 20, end }));
    await publish(client, makeBatch('agg-1', 2, model, STABLE, { frames: 20, end: end + 2000 }));
    await publish(client, makeBatch('agg-1', 2, model, STABLE, { frames: 20, end: end + 2000 }));
    await client.publishAsync(topics.predictions('agg-1'), '{"v":1,"deviceId":"agg-1","seq":"three"}', { qos: 1 });
    await client.publishAsync(topics.predictions('agg-1'), 'not json', { qos: 1 });
    await publish(client, makeBatch('agg-1', 3, model, STABLE, { frames: 10, end: end + 4000 }));
    const metrics = await eventually(
      () => json(fx.api('/api/v1/metrics/predictions?device=agg-1&model=face-id@1&bucket=hour')),
      (m) => m.rows.reduce((n: number, r: any) => n + r.frames, 0) >= 50,
    );
    await sleep(500);
    const again = await json(fx.api('/api/v1/metrics/predictions?device=agg-1&model=face-id@1&bucket=hour'));
    const frames = again.rows.reduce((n: number, r: any) => n + r.frames, 0);
    expect(frames).toBe(50);
    expect(metrics.rows[0]).toMatchObject({ deviceId: 'agg-1', model, detectionRate: 1 });
    expect(again.rows[0].unknownRate).toBeLessThan(0.2);
    expect(again.rows[0].latencyMs.total.p95).toBeGreaterThan(0);
    expect(again.rows[0].stats.brightness).toBeGreaterThan(100);
    const prometheus = await (await fetch(`${fx.url}/metrics`)).text();
    expect(prometheus).toMatch(/edgeloop_mqtt_messages\{outcome="invalid"\} 2/);
    // the queue kept going after the invalid messages: batch 3 was counted
    expect(prometheus).toMatch(/edgeloop_ingest_total\{counter="batches"\} 3/);
  });

  const counter = async (name: string): Promise<number> =>
    Number(new RegExp(`edgeloop_ingest_total\\{counter="${name}"\\} (\\d+)`).exec(await (await fetch(`${fx.url}/metrics`)).text())?.[1] ?? 0);

  it('a batch redelivered after its job is gone is dropped by the SQL dedupe key', async () => {
    // the batch published twice above was one already (batches go into Redis as group jobs, with no job id to dedupe on)
    expect(await counter('batches_duplicate')).toBe(1);
    const queue = fx.cloud.app.get((await import('../queues/predictions.queue')).PredictionsQueue);
    const batch = makeBatch('agg-1', 2, { name: 'face-id', version: 1 }, STABLE, { frames: 20 });
    await queue.addRaw('predictions.ingest', { deviceId: 'agg-1', seq: 2, receivedAt: Date.now(), batch });
    await eventually(() => counter('batches_duplicate'), (n) => n === 2);
    const rows = (await json(fx.api('/api/v1/metrics/predictions?device=agg-1&model=face-id@1&bucket=hour'))).rows;
    expect(rows.reduce((n: number, r: any) => n + r.frames, 0)).toBe(50);
  });

  it('a group job counts its valid batches and dead-letters the one whose payload names another batch', async () => {
    const queue = fx.cloud.app.get((await import('../queues/predictions.queue')).PredictionsQueue);
    const [batches, invalid] = [await counter('batches'), await counter('jobs_invalid')];
    const entry = (seq: number, payloadSeq: number) => ({
      deviceId: 'agg-1',
      seq,
      receivedAt: Date.now(),
      payload: Buffer.from(JSON.stringify(makeBatch('agg-1', payloadSeq, { name: 'face-id', version: 1 }, STABLE, { frames: 5 }))).toString('base64'),
    });
    await queue.addRaw('predictions.ingest-group', { batches: [entry(10, 10), entry(11, 12), entry(13, 13)] });
    await eventually(
      async () => [await counter('batches'), await counter('jobs_invalid')],
      ([b, i]) => b === batches + 2 && i === invalid + 1,
    );
    const rows = (await json(fx.api('/api/v1/metrics/predictions?device=agg-1&model=face-id@1&bucket=hour'))).rows;
    expect(rows.reduce((n: number, r: any) => n + r.frames, 0)).toBe(60);
  });

  it('stores hard examples once, with a crop in S3 only when sent, lists and labels them', async () => {
    const client = devices.get('agg-1')!;
    const crop = (await import('sharp')).default({ create: { width: 32, height: 32, channels: 3, background: { r: 90, g: 60, b: 40 } } }).jpeg();
    const jpeg = await crop.toBuffer();
    const example = (id: string, withCrop: boolean) => ({
      v: 1,
      deviceId: 'agg-1',
      id,
      ts: Date.now(),
      model: { name: 'face-id', version: 1 },
      reason: 'unknown',
      candidate: 'franck',
      score: 0.21,
      margin: 0.03,
      detScore: 0.97,
      embedding: Array.from({ length: 512 }, (_, i) => Math.sin(i) / 16),
      ...(withCrop ? { crop: { format: 'jpeg', data: jpeg.toString('base64'), width: 32, height: 32 } } : {}),
    });
    for (const [id, withCrop] of [['he-1', true], ['he-2', false], ['he-1', true]] as const) {
      await client.publishAsync(topics.hardExamples('agg-1'), JSON.stringify(example(id, withCrop)), { qos: 1 });
    }
    const listed = await eventually(() => json(fx.api('/api/v1/hard-examples?device=agg-1')), (b) => b.hardExamples.length >= 2);
    await sleep(500);
    const all = (await json(fx.api('/api/v1/hard-examples?device=agg-1'))).hardExamples;
    expect(all).toHaveLength(2);
    const withCrop = listed.hardExamples.find((e: any) => e.id === 'agg-1.he-1');
    const without = listed.hardExamples.find((e: any) => e.id === 'agg-1.he-2');
    expect(withCrop).toMatchObject({ reason: 'unknown', candidate: 'franck', model: { name: 'face-id', version: 1 }, label: null });
    expect(without.cropUrl).toBeNull();
    const cropRes = await fx.api(withCrop.cropUrl);
    expect(cropRes.status).toBe(200);
    expect(Buffer.from(await cropRes.arrayBuffer())).toEqual(jpeg);
    const labelled = await fx.api('/api/v1/hard-examples/agg-1.he-1/label', {
      method: 'POST',
      body: JSON.stringify({ verdict: 'identity', identity: 'franck' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(labelled.status).toBe(200);
    expect((await labelled.json() as any).label).toMatchObject({ verdict: 'identity', identity: 'franck' });
    const notFace = await fx.api('/api/v1/hard-examples/agg-1.he-2/label', { method: 'POST', body: JSON.stringify({ verdict: 'not_a_face' }), headers: { 'content-type': 'application/json' } });
    expect(notFace.status).toBe(200);
    const bad = await fx.api('/api/v1/hard-examples/agg-1.he-2/label', { method: 'POST', body: JSON.stringify({ verdict: 'maybe' }), headers: { 'content-type': 'application/json' } });
    expect(bad.status).toBe(400);
    expect((await fx.api('/api/v1/hard-examples/nope/label', { method: 'POST', body: JSON.stringify({ verdict: 'not_a_face' }), headers: { 'content-type': 'application/json' } })).status).toBe(404);
    expect((await json(fx.api('/api/v1/hard-examples?labelled=false&device=agg-1'))).hardExamples).toHaveLength(0);
  });

  it('a malformed job on the queue is counted as invalid and does not stop the queue', async () => {
    const queue = fx.cloud.app.get((await import('../queues/predictions.queue')).PredictionsQueue);
    const [batches, invalid] = [await counter('batches'), await counter('jobs_invalid')];
    await queue.addRaw('predictions.ingest', { deviceId: 'agg-1', seq: -4 });
    const client = devices.get('agg-1')!;
    await publish(client, makeBatch('agg-1', 4, { name: 'face-id', version: 1 }, STABLE, { frames: 5 }));
    await eventually(
      async () => [await counter('batches'), await counter('jobs_invalid')],
      ([b, i]) => b === batches + 1 && i === invalid + 1,
    );
  });

  it('compares with statistics recorded at training time when the version carries them', async () => {
    const reference = createWindowStats();
    for (let seq = 1; seq <= 20; seq++) accumulateBatch(reference, makeBatch('training', seq, { name: 'face-id', version: 3 }, STABLE, { frames: 25 }));
    const bad = await fx.api('/api/v1/models/face-id/versions', {
      method: 'POST',
      body: uploadForm({ ...baseFiles, head: makeHead(['franck'], 3) }, { labels: ['franck'], drift: { thresholds: { metrics: { score_psi: { threshold: -1 } } } } }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).message).toMatch(/drift settings are invalid/);
    const res = await fx.api('/api/v1/models/face-id/versions', {
      method: 'POST',
      body: uploadForm({ ...baseFiles, head: makeHead(['franck'], 3) }, { labels: ['franck'], drift: { reference } }),
    });
    expect(res.status).toBe(201);
    const version = ((await res.json()) as any).version as number;
    const client = await device('trained-1');
    const started = Date.now();
    for (let seq = 1; Date.now() < started + 12_000; seq++) {
      await publish(client, makeBatch('trained-1', seq, { name: 'face-id', version }, DARK_BLURRED_STRANGERS, { frames: 25 }));
      await sleep(200);
    }
    const events = await eventually(
      async () => (await json(fx.api(`/api/v1/drift/events?model=face-id&version=${version}`))).events,
      (list: any[]) => list.length >= 1,
      15_000,
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ reference: { kind: 'training' }, devices: ['trained-1'] });
  }, 60_000);

  it('raises one drift.detected for a lighting change and strangers, none for a stable source, with a signed webhook', async () => {
    const stable = await device('stable-1');
    const drifting = await device('drift-1');
    const started = Date.now();
    let seq = 0;
    const stream = async (until: number, profile: (device: string) => TrafficProfile) => {
      while (Date.now() < until) {
        seq++;
        await publish(stable, makeBatch('stable-1', seq, { name: 'face-id', version: 1 }, profile('stable-1'), { frames: 25 }));
        await publish(drifting, makeBatch('drift-1', seq, { name: 'face-id', version: 2 }, profile('drift-1'), { frames: 25 }));
        await sleep(200);
      }
    };
    // reference windows for both versions, then the drifting device's light goes down and strangers appear
    await stream(started + 6000, () => STABLE);
    await stream(started + 22_000, (d) => (d === 'drift-1' ? DARK_BLURRED_STRANGERS : STABLE));
    const events = (await json(fx.api('/api/v1/drift/events'))).events;
    const v2 = events.filter((e: any) => e.model.version === 2);
    expect(v2).toHaveLength(1);
    expect(events.filter((e: any) => e.model.version === 1)).toHaveLength(0);
    const metrics = v2[0].evidence.map((e: any) => e.metric);
    // the event carries the metrics confirmed at that window: whichever of the moved ones crossed first
    const moved = ['brightness_shift', 'contrast_shift', 'sharpness_shift', 'unknown_rate', 'score_psi', 'score_ks', 'margin_psi', 'margin_ks'];
    expect(metrics.length).toBeGreaterThanOrEqual(1);
    for (const metric of metrics) expect(moved).toContain(metric);
    expect(v2[0].devices).toEqual(['drift-1']);
    const forV2 = (r: Received) => r.headers[WEBHOOK_HEADERS.event.toLowerCase()] === 'drift.detected' && JSON.parse(r.body).data.model.version === 2;
    const delivery = await eventually(async () => received.filter(forV2), (r) => r.length >= 1);
    expect(delivery).toHaveLength(1);
    const { headers, body } = delivery[0];
    const verified = verifyWebhook({
      secret,
      timestamp: String(headers[WEBHOOK_HEADERS.timestamp.toLowerCase()]),
      body,
      signature: String(headers[WEBHOOK_HEADERS.signature.toLowerCase()]),
    });
    expect(verified).toMatchObject({ ok: true });
    expect(JSON.parse(body)).toMatchObject({ type: 'drift.detected', data: { driftEventId: v2[0].driftEventId, model: { name: 'face-id', version: 2 } } });
  }, 60_000);
});
