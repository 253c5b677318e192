import { ackedItemOf, decodeDeviceMessage, predictionBatchEncoding, topics, type PredictionBatch, type PredictionBatchEncoding } from '@edgeloop/contracts';
import type { FrameResult as PipelineResult } from '@edgeloop/vision';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { DeviceChannel, DeviceChannelEvents } from '../agent/device-channel';
import { EdgeMetrics, type MetricsProbe } from '../ops/edge-metrics';
import { Outbox } from '../outbox/outbox';
import { OutboxSender } from '../outbox/outbox-sender';
import type { Frame } from '../sources';
import { ResultsSink } from './results-sink';

const DEVICE = 'cam-enc';
const MODEL = { name: 'face-id', version: 3 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The broker as the sender sees it: every publish is PUBACKed at once and kept. */
class RecordingChannel extends EventEmitter<DeviceChannelEvents> {
  connected = true;
  readonly published: Array<{ topic: string; payload: string | Buffer }> = [];
  publish(topic: string, payload: string | Buffer): Promise<void> {
    this.published.push({ topic, payload });
    return Promise.resolve();
  }
}

const probe = new Proxy({}, { get: () => () => 0 }) as MetricsProbe;

function pipelineResult(i: number): PipelineResult {
  const embedding = new Float32Array(512).map((_, k) => Math.sin(i + k) / 23);
  return {
    faces: [
      {
        box: { x: 10.123 + i, y: 20.5, width: 64.26, height: 80 },
        score: 0.98765,
        landmarks: [],
        identity: 'franck',
        candidate: 'franck',
        identityScore: 0.91234,
        margin: 0.4321,
        embedding,
      },
    ],
    stats: { width: 640, height: 480, brightness: 120.456, contrast: 40.1, sharpness: 300.77 },
    timings: { decodeMs: 1.234, detectMs: 12.5, alignMs: 0.75, embedMs: 20.1, headMs: 0.05, totalMs: 34.7 },
  } as PipelineResult;
}

describe('ResultsSink: prediction batches in the outbox, encoded as configured, read by the cloud decoder', () => {
  let dir: string;
  let outbox: Outbox;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'results-sink-'));
    outbox = Outbox.open(join(dir, 'outbox.sqlite'), { maxRows: 100, maxBytes: 1e7 });
  });
  afterEach(() => {
    outbox.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Records `frames` frames into a sink with the given encoding and flushes one batch into the outbox. */
  async function storeBatch(encoding: PredictionBatchEncoding, frames: number): Promise<void> {
    const metrics = new EdgeMetrics(DEVICE, probe);
    const config = {
      deviceId: DEVICE,
      batch: { maxItems: 100, maxMs: 60_000, encoding },
      hardExamples: { perMinute: 0, burst: 0, scoreBelow: 0.1, marginBelow: 0.01, sendCrops: false, cropSize: 112 },
    };
    const sink = new ResultsSink(config, metrics, { outbox: () => outbox, sender: () => undefined });
    for (let i = 0; i < frames; i++) {
      const frame = { seq: i, capturedAt: 1_750_000_000_000 + i * 100, image: {}, origin: 'test' } as unknown as Frame;
      await sink.record(frame, MODEL, pipelineResult(i));
    }
    sink.flush();
  }

  /** Sends what the outbox holds, decodes each payload as the cloud does, and acks it; returns the batches. */
  async function sendAndDecode(): Promise<{ batches: PredictionBatch[]; payloads: Array<string | Buffer> }> {
    const channel = new RecordingChannel();
    const sender = new OutboxSender(outbox, channel as unknown as DeviceChannel, { deviceId: DEVICE, inflight: 8, ackTimeoutMs: 60_000 });
    sender.start();
    sender.drain();
    await sleep(0);
    const batches: PredictionBatch[] = [];
    for (const { topic, payload } of channel.published) {
      expect(topic).toBe(topics.predictions(DEVICE));
      const decoded = decodeDeviceMessage(topic, payload);
      if (!decoded.ok) throw new Error(`${decoded.error.code}: ${decoded.error.message}`);
      if (decoded.value.kind !== 'predictions') throw new Error(decoded.value.kind);
      batches.push(decoded.value.message);
      const acks = [ackedItemOf(decoded.value)!];
      channel.emit('ack', Buffer.from(JSON.stringify({ v: 1, deviceId: DEVICE, ts: Date.now(), acks })));
    }
    sender.stop();
    return { batches, payloads: channel.published.map((p) => p.payload) };
  }

  it('stores a batch in the columns encoding by default: under half the bytes of the JSON, decoded by the cloud as the batch the JSON setting sends', async () => {
    await storeBatch('columns', 10);
    const columns = await sendAndDecode();
    expect(columns.payloads).toHaveLength(1);
    expect(Buffer.isBuffer(columns.payloads[0])).toBe(true);
    expect(predictionBatchEncoding(columns.payloads[0] as Buffer)).toBe('columns');
    expect(outbox.stats().rows).toBe(0); // the ack emptied it

    await storeBatch('json', 10);
    const json = await sendAndDecode();
    expect(typeof json.payloads[0]).toBe('string');
    expect(predictionBatchEncoding(json.payloads[0] as string)).toBe('json');

    const [fromColumns] = columns.batches;
    const [fromJson] = json.batches;
    expect(fromColumns!.items).toHaveLength(10);
    expect(fromColumns!.items[3]!.faces[0]).toEqual({
      identity: 'franck',
      score: 0.9123,
      margin: 0.4321,
      detScore: 0.9877,
      box: { x: 13.1, y: 20.5, width: 64.3, height: 80 },
    });
    // the same batch either way, but for its sequence number and the window's end (the flush time)
    expect({ ...fromColumns, seq: 0, window: fromJson!.window }).toEqual({ ...fromJson, seq: 0 });
    expect(fromColumns!.embeddingCentroid!.mean).toHaveLength(512);
    expect([fromColumns!.seq, fromJson!.seq]).toEqual([1, 2]);
    expect(Buffer.byteLength(columns.payloads[0]!) * 2).toBeLessThan(Buffer.byteLength(json.payloads[0]!));
  });

  it('still sends the JSON rows an older worker left in its outbox (TEXT), then the new columns rows, in order', async () => {
    // the worker before the columns encoding stored every batch as JSON text, through the same outbox file
    const file = join(dir, 'outbox.sqlite');
    let text = '';
    const oldBatch = (seq: number, epoch: string) => ({
      v: 1,
      deviceId: DEVICE,
      seq,
      epoch,
      model: MODEL,
      window: { start: 1_749_999_000_000, end: 1_749_999_001_000 },
      items: [
        {
          ts: 1_749_999_000_500,
          faces: [],
          stats: { brightness: 100, contrast: 30, sharpness: 200 },
          timings: { detect: 1, align: 0, embed: 0, head: 0, total: 2 },
        },
      ],
      dropped: { skipped: 0, failed: 0 },
    });
    outbox.appendBatch((seq, epoch) => (text = JSON.stringify(oldBatch(seq, epoch))));
    outbox.close();
    const db = new DatabaseSync(file);
    expect(db.prepare('SELECT typeof(payload) AS t FROM outbox').get()).toEqual({ t: 'text' });
    db.close();

    outbox = Outbox.open(file, { maxRows: 100, maxBytes: 1e7 });
    await storeBatch('columns', 5);
    const { batches, payloads } = await sendAndDecode();
    expect(payloads.map((p) => predictionBatchEncoding(p))).toEqual(['json', 'columns']);
    expect(payloads[0]).toBe(text);
    expect(batches.map((b) => [b.seq, b.items.length])).toEqual([
      [1, 1],
      [2, 5],
    ]);
    expect(batches[0]).toEqual(JSON.parse(text));
    expect(outbox.stats().rows).toBe(0);
  });
});
