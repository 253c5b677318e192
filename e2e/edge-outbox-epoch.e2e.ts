import { BULLMQ_PREFIX, QUEUES, topics, type ProvisionDeviceResponse } from '@edgeloop/contracts';
import { Queue } from 'bullmq';
import mqtt from 'mqtt';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCloudFixture, type CloudFixture } from '../apps/cloud/src/testing/cloud-fixture';
import { makeBatch, STABLE } from '../apps/cloud/src/testing/prediction-batches';
import { DeviceChannel } from '../apps/edge/src/agent/device-channel';
import { Outbox } from '../apps/edge/src/outbox/outbox';
import { OutboxSender } from '../apps/edge/src/outbox/outbox-sender';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DEVICE = 'cam-epoch';
const MODEL = { name: 'face-id', version: 1 };
const FRAMES = 10;

/** The edge's outbox as the worker runs it: SQLite file in the state folder, drained over MQTT by the sender. */
class EdgeOutbox {
  readonly outbox: Outbox;
  private readonly channel: DeviceChannel;
  private readonly sender: OutboxSender;

  constructor(stateDir: string, mqttUrl: string, password: string) {
    this.outbox = Outbox.open(join(stateDir, 'outbox.sqlite'), { maxRows: 1000, maxBytes: 16 << 20 });
    this.channel = new DeviceChannel({ url: mqttUrl, username: DEVICE, password, reconnectMs: 200, keepaliveS: 30, dataWindowBytes: 1 << 20 }, DEVICE, 'test');
    this.sender = new OutboxSender(this.outbox, this.channel, { deviceId: DEVICE, inflight: 8, ackTimeoutMs: 20_000 });
    this.sender.start();
    this.channel.start();
  }

  /** Stores `count` batches of FRAMES frames each (the outbox numbers and stamps them); returns their payloads. */
  append(count: number): string[] {
    const payloads: string[] = [];
    for (let i = 0; i < count; i++) {
      this.outbox.appendBatch((seq, epoch) => {
        const payload = JSON.stringify({ ...makeBatch(DEVICE, seq, MODEL, STABLE, { frames: FRAMES }), epoch });
        payloads.push(payload);
        return payload;
      });
      this.sender.drain();
    }
    return payloads;
  }

  async drained(): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (this.outbox.stats().rows > 0) {
      if (Date.now() > deadline) throw new Error(`outbox still holds ${this.outbox.stats().rows} rows`);
      this.sender.drain();
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    this.sender.stop();
    await this.channel.stop();
    this.outbox.close();
  }
}

/**
 * A device whose state folder is wiped numbers its batches from 1 again. The outbox's epoch (a random id
 * made with the outbox file, carried in every batch, part of the cloud's dedupe key) makes those batches
 * new to the cloud: nothing is lost, and a redelivery of a batch from before the wipe is still one batch.
 * Edge outbox → Mosquitto (the cloud's ACLs) → real cloud (BullMQ, SQL).
 */
describe('outbox epoch: wiping the edge state folder loses nothing and counts nothing twice', () => {
  let fx: CloudFixture;
  let password: string;
  const stateDir = mkdtempSync(join(tmpdir(), 'edge-epoch-'));

  beforeAll(async () => {
    fx = await startCloudFixture({ broker: 'mosquitto', env: { EDGELOOP_AGGREGATE_BUCKET_SECONDS: '60' } });
    const res = await fx.api('/api/v1/devices', {
      method: 'POST',
      body: JSON.stringify({ id: DEVICE, name: DEVICE }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(201);
    password = ((await res.json()) as ProvisionDeviceResponse).credentials.mqtt.password;
  }, 60_000);
  afterAll(async () => {
    await fx?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  const counters = async (): Promise<Record<string, number>> => {
    const text = await (await fetch(`${fx.url}/metrics`)).text();
    const read = (name: string) => Number(new RegExp(`edgeloop_ingest_total\\{counter="${name}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    return { batches: read('batches'), duplicates: read('batches_duplicate'), frames: read('frames') };
  };
  /** Waits until the cloud has taken `handled` batches (new or duplicate). */
  const settled = async (handled: number): Promise<Record<string, number>> => {
    const deadline = Date.now() + 30_000;
    let seen = await counters();
    while (seen.batches! + seen.duplicates! < handled && Date.now() < deadline) {
      await sleep(200);
      seen = await counters();
    }
    return seen;
  };
  const framesOfDevice = async (): Promise<number> => {
    const body = (await (await fx.api(`/api/v1/metrics/predictions?device=${DEVICE}&bucket=day`)).json()) as { rows: Array<{ frames: number }> };
    return body.rows.reduce((n, r) => n + r.frames, 0);
  };

  it('counts the batches numbered 1… again after a wipe, and a pre-wipe redelivery once', async () => {
    let edge = new EdgeOutbox(stateDir, fx.mqttUrl!, password);
    const before = edge.append(5);
    const firstEpoch = edge.outbox.stats().epoch;
    await edge.drained();
    expect(await settled(5)).toEqual({ batches: 5, duplicates: 0, frames: 5 * FRAMES });
    await edge.stop();

    // the state folder is wiped: a new outbox file, seq from 1 again
    rmSync(stateDir, { recursive: true, force: true });
    edge = new EdgeOutbox(mkdtempSync(stateDir), fx.mqttUrl!, password);
    const after = edge.append(5);
    expect(edge.outbox.stats()).toMatchObject({ lastSeq: 5 });
    expect(edge.outbox.stats().epoch).not.toBe(firstEpoch);
    expect(after.map((p) => (JSON.parse(p) as { seq: number }).seq)).toEqual([1, 2, 3, 4, 5]);
    await edge.drained();
    expect(await settled(10)).toEqual({ batches: 10, duplicates: 0, frames: 10 * FRAMES });
    await edge.stop();

    // The broker redelivers a batch from before the wipe, and one from after it. Completed jobs are taken
    // out of Redis first (as their retention does after 10 minutes), so the SQL dedupe is what decides.
    const queue = new Queue(QUEUES.predictions, { connection: { url: fx.redis!.url }, prefix: BULLMQ_PREFIX });
    const forgetJobs = () => queue.clean(0, 10_000, 'completed');
    await forgetJobs();
    const device = await mqtt.connectAsync(fx.mqttUrl!, { clientId: DEVICE, username: DEVICE, password, clean: true });
    await device.publishAsync(topics.predictions(DEVICE), before[1]!, { qos: 1 });
    await device.publishAsync(topics.predictions(DEVICE), after[1]!, { qos: 1 });
    expect(await settled(12)).toEqual({ batches: 10, duplicates: 2, frames: 10 * FRAMES });

    // an edge older than epochs: its batches still count, once, on (device, seq)
    const legacy = JSON.stringify(makeBatch(DEVICE, 2, MODEL, STABLE, { frames: FRAMES }));
    await device.publishAsync(topics.predictions(DEVICE), legacy, { qos: 1 });
    expect(await settled(13)).toEqual({ batches: 11, duplicates: 2, frames: 11 * FRAMES });
    await forgetJobs();
    await device.publishAsync(topics.predictions(DEVICE), legacy, { qos: 1 });
    await device.endAsync();
    expect(await settled(14)).toEqual({ batches: 11, duplicates: 3, frames: 11 * FRAMES });
    await queue.close();
    await sleep(500);
    expect(await counters()).toEqual({ batches: 11, duplicates: 3, frames: 11 * FRAMES });
    expect(await framesOfDevice()).toBe(11 * FRAMES);
  }, 120_000);
});
