import { ApiClient } from '@edgeloop/client';
import { API_PREFIX, apiPaths, type PredictionBatch, type PredictionBatchEncoding } from '@edgeloop/contracts';
import { performance } from 'node:perf_hooks';
import { STABLE } from '../../apps/cloud/src/testing/prediction-batches';
import { scrapeIngest, type IngestScrape } from './cloud-scrape';
import { provisionDevices, publishAll, disconnect, type BenchDevice, type PublishRun } from './fleet';
import { HealthProbe, type HealthLatency } from './health-probe';
import { batchTemplate, encodedPayload, wireBatch, type BatchTemplate } from './wire-batches';

const POLL_MS = 200;
const SETTLE_TIMEOUT_MS = 240_000;
const TEMPLATES_PER_DEVICE = 4;
/** The bench devices publish at full speed: far above the default device quota, so their group lifts it (docs/quotas.md). */
const BENCH_GROUP_QUOTA = { kinds: { predictions: { messagesPerSecond: 1_000_000, bytesPerSecond: 10 * 1024 ** 3 } } };

export interface EndToEndSettings {
  devices: number;
  framesPerBatch: number;
  batchesPerDevice: number;
  warmUpBatchesPerDevice: number;
  inFlightPerDevice: number;
  centroid: boolean;
  model: { name: string; version: number };
  /** How the devices encode their batches (the edge's `EDGELOOP_BATCH_ENCODING`). */
  encoding: PredictionBatchEncoding;
}

export interface EndToEndRun {
  frames: number;
  batches: number;
  payloadBytes: { perBatch: number; total: number };
  /** From the first publish to the scrape that saw every frame in the SQL aggregates. */
  seconds: number;
  predictionsPerSecond: number;
  batchesPerSecond: number;
  /** Frames per second between 10 % and 90 % of the frames aggregated (steady state, no ramp or tail). */
  steadyPredictionsPerSecond: number;
  steadySeconds: number;
  /** When the devices had every PUBACK (the broker took every message; the cloud may still be behind). */
  publishSeconds: number;
  /** When the cloud's MQTT client had taken every message (each is in Redis once the next one is taken). */
  receivedSeconds: number | null;
  /** Messages per second the cloud's MQTT client took, 10 % → 90 %. */
  steadyReceivedPerSecond: number | null;
  maxWaitingJobs: number;
  /** Sum of `frames` over `GET /api/v1/metrics/predictions?bucket=day` for the model, after the run. */
  aggregatedFramesInApi: number;
  /** The aggregate rows hold exactly the frames the ingest counter counted (warm-up included). */
  aggregatesMatchCounter: boolean;
  /** Counter changes over the timed part: duplicate batches, invalid jobs and messages, failed jobs in the queue. */
  anomalies: { duplicateBatches: number; invalidJobs: number; invalidMessages: number; failedJobs: number };
  warmUpFrames: number;
  /** `GET /api/v1/health` every 100 ms during the timed part: how long each took. */
  health: HealthLatency;
  samples: Array<{ t: number; frames: number; received: number; waiting: number; active: number }>;
}

/**
 * MQTT → BullMQ → SQL: provisions `devices` simulated devices, warms the path up with a few batches each,
 * then every device publishes its batches at full speed while `/metrics` is scraped every 200 ms, until the
 * SQL counter holds every frame. `onStart`/`onEnd` bracket the timed part (CPU accounting, profiling).
 */
export async function measureEndToEnd(
  cloud: { url: string; mqttUrl: string; adminToken: string },
  settings: EndToEndSettings,
  hooks: { onStart?(): Promise<void> | void; onEnd?(): Promise<void> | void; log(line: string): void },
): Promise<EndToEndRun> {
  const api = new ApiClient({ baseUrl: cloud.url, token: cloud.adminToken });
  const ids = Array.from({ length: settings.devices }, (_, i) => `ingest-${String(i + 1).padStart(2, '0')}`);
  const templates = new Map<string, Array<{ batch: PredictionBatch; template: BatchTemplate }>>();
  // every frame of every template inside one aggregate bucket (40 s into the current minute, 10–13 s of
  // frames before that), so each batch adds to exactly one aggregate row, whatever second the run starts
  const end = Math.floor(Date.now() / 60_000) * 60_000 + 40_000;
  for (const id of ids) {
    templates.set(
      id,
      Array.from({ length: TEMPLATES_PER_DEVICE }, (_, k) => {
        const batch = wireBatch(id, k + 1, settings.model, STABLE, { frames: settings.framesPerBatch, centroid: settings.centroid, end: end - k * 1000 });
        return { batch, template: batchTemplate(batch) };
      }),
    );
  }
  // every payload made before the clock starts (the columns encoding is encoded per seq)
  const total = settings.warmUpBatchesPerDevice + settings.batchesPerDevice;
  const payloads = new Map(
    ids.map((id) => {
      const list = templates.get(id)!;
      return [id, Array.from({ length: total }, (_, i) => encodedPayload(list[(i + 1) % list.length].batch, list[(i + 1) % list.length].template, i + 1, settings.encoding))];
    }),
  );
  const payload = (warmUp: boolean) => (device: BenchDevice, index: number) => payloads.get(device.id)![warmUp ? index : settings.warmUpBatchesPerDevice + index];
  const sizes = [...payloads.values()].flatMap((list) => list.map((p) => (typeof p === 'string' ? Buffer.byteLength(p) : p.byteLength)));
  const perBatchBytes = Math.round(sizes.reduce((n, b) => n + b, 0) / sizes.length);

  // quotas stay on (the cloud's defaults): the bench group gets a quota above anything it can send, through the API
  await api.request('PUT', `${API_PREFIX}/quotas/groups/ingest-bench`, BENCH_GROUP_QUOTA);
  const devices = await provisionDevices(api, cloud.mqttUrl, ids, 'ingest-bench');
  try {
    const warmUpFrames = settings.devices * settings.warmUpBatchesPerDevice * settings.framesPerBatch;
    if (warmUpFrames > 0) {
      await publishAll(devices, settings.warmUpBatchesPerDevice, settings.inFlightPerDevice, payload(true));
      await waitForFrames(cloud.url, warmUpFrames, SETTLE_TIMEOUT_MS);
    }
    const base = await scrapeIngest(cloud.url);
    const frames = settings.devices * settings.batchesPerDevice * settings.framesPerBatch;
    const target = base.frames + frames;
    const samples: IngestScrape[] = [];
    let done = false;
    let polling: Promise<void> | undefined;
    const poll = async () => {
      while (!done) {
        const sample = await scrapeIngest(cloud.url);
        samples.push(sample);
        if (sample.frames >= target) {
          done = true;
          break;
        }
        if (samples.length > 1 && performance.now() - samples[0].at > SETTLE_TIMEOUT_MS) {
          throw new Error(`only ${sample.frames - base.frames} of ${frames} frames aggregated after ${SETTLE_TIMEOUT_MS / 1000} s`);
        }
        await sleep(POLL_MS);
      }
    };
    const health = new HealthProbe(cloud.url);
    await hooks.onStart?.();
    health.start();
    const published: PublishRun = await publishAll(devices, settings.batchesPerDevice, settings.inFlightPerDevice, payload(false), () => {
      polling = poll();
    });
    hooks.log(`  all ${published.messages} batches acknowledged by the broker after ${((published.lastAckAt - published.firstPublishAt) / 1000).toFixed(1)} s`);
    await polling;
    const healthLatency = await health.stop();
    await hooks.onEnd?.();
    const t0 = published.firstPublishAt;
    const last = samples[samples.length - 1];
    const seconds = (last.at - t0) / 1000;
    const relative = [{ t: 0, frames: 0, received: 0, waiting: 0, active: 0 }, ...samples.map((s) => ({ t: round((s.at - t0) / 1000, 2), frames: s.frames - base.frames, received: s.received - base.received, waiting: s.waiting, active: s.active }))];
    const steady = between(relative, (s) => s.frames, frames * 0.1, frames * 0.9);
    const messages = settings.devices * settings.batchesPerDevice;
    const receivedSteady = between(relative, (s) => s.received, messages * 0.1, messages * 0.9);
    const allReceived = relative.find((s) => s.received >= messages);
    const rows = await api.get<{ rows: Array<{ frames: number }> }>(
      `${apiPaths.predictionMetrics()}?bucket=day&model=${encodeURIComponent(`${settings.model.name}@${settings.model.version}`)}`,
    );
    const aggregatedFramesInApi = rows.rows.reduce((n, r) => n + r.frames, 0);
    return {
      frames,
      batches: messages,
      payloadBytes: { perBatch: perBatchBytes, total: published.bytes },
      seconds: round(seconds, 2),
      predictionsPerSecond: Math.round(frames / seconds),
      batchesPerSecond: round(messages / seconds, 1),
      steadyPredictionsPerSecond: Math.round(steady.rate),
      steadySeconds: round(steady.seconds, 2),
      publishSeconds: round((published.lastAckAt - t0) / 1000, 2),
      receivedSeconds: allReceived ? allReceived.t : null,
      steadyReceivedPerSecond: receivedSteady.rate > 0 ? round(receivedSteady.rate, 1) : null,
      maxWaitingJobs: Math.max(0, ...samples.map((s) => s.waiting)),
      aggregatedFramesInApi,
      aggregatesMatchCounter: aggregatedFramesInApi === last.frames,
      anomalies: {
        duplicateBatches: last.duplicates - base.duplicates,
        invalidJobs: last.invalidJobs - base.invalidJobs,
        invalidMessages: last.invalidMessages - base.invalidMessages,
        failedJobs: last.failed,
      },
      warmUpFrames,
      health: healthLatency,
      samples: relative,
    };
  } finally {
    await disconnect(devices);
  }
}

async function waitForFrames(cloudUrl: string, frames: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const sample = await scrapeIngest(cloudUrl);
    if (sample.frames >= frames) return;
    if (performance.now() > deadline) throw new Error(`warm-up: ${sample.frames} of ${frames} frames aggregated after ${timeoutMs / 1000} s`);
    await sleep(POLL_MS);
  }
}

/** Rate of `value` between the first samples at or past `from` and `to` (linear interpolation between samples). */
function between<T extends { t: number }>(samples: readonly T[], value: (s: T) => number, from: number, to: number): { rate: number; seconds: number } {
  const at = (level: number): number | null => {
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1];
      const b = samples[i];
      if (value(b) >= level) {
        const span = value(b) - value(a);
        return span > 0 ? a.t + ((level - value(a)) / span) * (b.t - a.t) : b.t;
      }
    }
    return null;
  };
  const start = at(from);
  const stop = at(to);
  if (start === null || stop === null || stop <= start) return { rate: 0, seconds: 0 };
  return { rate: (to - from) / (stop - start), seconds: stop - start };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function round(v: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(v * scale) / scale;
}
