import { BULLMQ_PREFIX, hardExampleJobId, QUEUES, topics } from '@edgeloop/contracts';
import { Queue } from 'bullmq';
import { Client } from 'minio';
import mqtt, { type MqttClient } from 'mqtt';
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { SqlDatabase } from '../database/sql-database';
import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';

const json = async (res: Response | Promise<Response>): Promise<any> => (await (await res).json()) as any;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(last).slice(0, 500)}`);
    await sleep(100);
    last = await probe();
  }
  return last;
}

const jpeg = (side: number, r: number) =>
  sharp({ create: { width: side, height: side, channels: 3, background: { r, g: 80, b: 40 } } })
    .jpeg()
    .toBuffer();

/**
 * Hard-example crops (real Redis/BullMQ, broker, S3-protocol server; PostgreSQL when DATABASE_URL is set, else PGlite): a re-sent example replaces no
 * crop even after the queue forgot its job id, and only a decodable JPEG of the declared size is stored and
 * served — as image/jpeg with nosniff.
 */
describe('hard-example crops', () => {
  let fx: CloudFixture;
  let client: MqttClient;
  let queue: Queue;
  let s3: Client;
  const deviceId = 'crop-cam';

  beforeAll(async () => {
    fx = await startCloudFixture({ broker: 'embedded' });
    const body = await json(
      fx.api('/api/v1/devices', { method: 'POST', body: JSON.stringify({ id: deviceId, name: deviceId, group: 'lab' }), headers: { 'content-type': 'application/json' } }),
    );
    client = await mqtt.connectAsync(fx.mqttUrl!, { clientId: deviceId, username: deviceId, password: body.credentials.mqtt.password });
    queue = new Queue(QUEUES.predictions, { connection: { url: fx.redis!.url }, prefix: BULLMQ_PREFIX });
    s3 = new Client(fx.s3.clientOptions);
  });
  afterAll(async () => {
    await client?.endAsync();
    await queue?.close();
    await fx?.stop();
  });

  const example = (id: string, crop?: { data: string; width: number; height: number }) => ({
    v: 1,
    deviceId,
    id,
    ts: Date.now(),
    model: { name: 'face-id', version: 1 },
    reason: 'unknown',
    candidate: 'franck',
    score: 0.21,
    margin: 0.03,
    detScore: 0.97,
    embedding: Array.from({ length: 512 }, (_, i) => Math.cos(i) / 16),
    ...(crop ? { crop: { format: 'jpeg', ...crop } } : {}),
  });
  const publish = (body: object) => client.publishAsync(topics.hardExamples(deviceId), JSON.stringify(body), { qos: 1 });

  async function counter(name: string): Promise<number> {
    const text = await (await fetch(`${fx.url}/metrics`)).text();
    const match = new RegExp(`counter="${name}"\\} (\\d+)`).exec(text);
    return match ? Number(match[1]) : 0;
  }

  async function listed(id: string): Promise<any | undefined> {
    return (await json(fx.api(`/api/v1/hard-examples?device=${deviceId}`))).hardExamples.find((e: any) => e.id === `${deviceId}.${id}`);
  }

  async function objectKeys(): Promise<string[]> {
    const keys: string[] = [];
    for await (const item of s3.listObjectsV2('edgeloop', 'hard-examples/', true)) keys.push((item as { name: string }).name);
    return keys;
  }

  /** What BullMQ does 600 s after the job completed (removeOnComplete): the job id no longer dedupes. */
  async function forgetJob(id: string): Promise<void> {
    const jobId = hardExampleJobId(deviceId, id);
    await eventually(async () => (await queue.getJob(jobId))?.finishedOn, (finished) => finished !== undefined);
    await queue.remove(jobId);
    expect(await queue.getJob(jobId)).toBeUndefined();
  }

  it('a labelled example re-sent after the queue forgot its job id keeps its crop; crops are stored by content hash', async () => {
    const first = await jpeg(32, 200);
    const replacement = await jpeg(32, 10);
    await publish(example('he-1', { data: first.toString('base64'), width: 32, height: 32 }));
    const stored = await eventually(() => listed('he-1'), (e) => e !== undefined);
    const label = await fx.api(`/api/v1/hard-examples/${stored.id}/label`, {
      method: 'POST',
      body: JSON.stringify({ verdict: 'identity', identity: 'franck' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(label.status).toBe(200);
    const labelled = await listed('he-1');

    await forgetJob('he-1');
    const duplicates = await counter('hard_examples_duplicate');
    await publish(example('he-1', { data: replacement.toString('base64'), width: 32, height: 32 }));
    await eventually(() => counter('hard_examples_duplicate'), (n) => n === duplicates + 1);

    const crop = await fx.api(stored.cropUrl);
    expect(crop.status).toBe(200);
    expect(Buffer.from(await crop.arrayBuffer())).toEqual(first);
    expect(await listed('he-1')).toEqual(labelled);
    const keys = await objectKeys();
    expect(keys.some((k) => k.includes(sha256(first)))).toBe(true);
    expect(keys.some((k) => k.includes(sha256(replacement)))).toBe(false);
  });

  it('serves a crop as image/jpeg with nosniff and a sandboxing CSP', async () => {
    const bytes = await jpeg(24, 120);
    await publish(example('he-2', { data: bytes.toString('base64'), width: 24, height: 24 }));
    const stored = await eventually(() => listed('he-2'), (e) => e !== undefined);
    const res = await fx.api(stored.cropUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain('sandbox');
    expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes);
  });

  it('refuses crops that are not the JPEG they claim: script bytes, a trailing payload, a wrong size, too many pixels', async () => {
    const script = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.from('<script>alert(document.cookie)</script>')]);
    const valid = await jpeg(32, 60);
    const trailing = Buffer.concat([valid, Buffer.from('<script>alert(1)</script>')]);
    const big = await sharp({ create: { width: 1200, height: 1200, channels: 3, background: { r: 1, g: 2, b: 3 } } }).jpeg({ quality: 10 }).toBuffer();
    const cases: Array<[string, Buffer, number, number]> = [
      ['bad-script', script, 32, 32],
      ['bad-trailing', trailing, 32, 32],
      ['bad-size', valid, 48, 48],
      ['bad-pixels', big, 32, 32],
    ];
    const handled = async () => (await counter('hard_examples')) + (await counter('hard_examples_invalid'));
    const [before, invalid] = [await handled(), await counter('hard_examples_invalid')];
    for (const [id, bytes, width, height] of cases) {
      expect(bytes.toString('base64').startsWith('/9j/')).toBe(true);
      await publish(example(id, { data: bytes.toString('base64'), width, height }));
    }
    await eventually(handled, (n) => n === before + cases.length);
    for (const [id] of cases) expect(await listed(id)).toBeUndefined();
    expect(await counter('hard_examples_invalid')).toBe(invalid + cases.length);
    for (const key of await objectKeys()) {
      const chunks: Buffer[] = [];
      for await (const chunk of await s3.getObject('edgeloop', key)) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).toString('latin1')).not.toContain('<script>');
    }
    // the pipeline keeps going after refusing them
    await publish(example('he-after'));
    await eventually(() => listed('he-after'), (e) => e !== undefined);
  });

  it('a crop stored before crops were checked is served only if it is a JPEG', async () => {
    const script = Buffer.from('\xff\xd8\xff<script>alert(1)</script>', 'latin1');
    await s3.putObject('edgeloop', `hard-examples/${deviceId}.legacy.jpg`, script, script.length);
    await fx.cloud.app.get(SqlDatabase).query(
      `insert into hard_examples (id, device_id, example_id, model_name, model_version, reason, det_score, embedding, crop_key, captured_at)
       values ($1, $2, 'legacy', 'face-id', 1, 'unknown', 0.9, '[]', $3, now())`,
      [`${deviceId}.legacy`, deviceId, `hard-examples/${deviceId}.legacy.jpg`],
    );
    const res = await fx.api(`/api/v1/hard-examples/${deviceId}.legacy/crop`);
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain('<script>');
  });
});
