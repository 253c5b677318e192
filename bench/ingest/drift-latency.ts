import { ApiClient } from '@edgeloop/client';
import { apiPaths, MQTT_QOS, topics, verifyWebhook, WEBHOOK_HEADERS } from '@edgeloop/contracts';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DARK_BLURRED_STRANGERS, STABLE } from '../../apps/cloud/src/testing/prediction-batches';
import { disconnect, provisionDevices, type BenchDevice } from './fleet';
import { wireBatch } from './wire-batches';

const SECRET = 'ingest-bench-webhook-secret';
const WAIT_AFTER_LAST_SWITCH_MS = 30_000;

export interface DriftLatencySettings {
  bucketSeconds: number;
  windowSeconds: number;
  checkSeconds: number;
  confirmWindows: number;
  /** Model versions whose source switches to DARK_BLURRED_STRANGERS (one drift episode each). */
  episodes: number;
  devicesPerVersion: number;
  /** Each device publishes a batch of `framesPerBatch` frames every `batchMs`. */
  batchMs: number;
  framesPerBatch: number;
  /** Stable traffic before the first switch (the reference window and a few clean checks). */
  stableMs: number;
  /** Switch times of successive episodes are this far apart, so they fall at different phases of the check. */
  switchSpacingMs: number;
  centroid: boolean;
  modelName: string;
}

export interface DriftEpisode {
  version: number;
  /** ISO times (cloud and bench share the clock). */
  switchedAt: string;
  /** End of the first window that holds a drifted frame: the bucket boundary after the switch. */
  boundary: string;
  /** The window whose check fired the event. */
  eventWindow: { start: string; end: string } | null;
  detectedAt: string | null;
  arrivedAt: string | null;
  metrics: string[];
  signatureVerified: boolean;
  /** Webhook arrival − boundary: the headline figure. */
  totalMs: number | null;
  /** Firing window's end − boundary: the windows the alarm waited for (confirm windows, one per check). */
  confirmMs: number | null;
  /** detectedAt − firing window's end: how long after the window closed the sweep checked it. */
  checkDelayMs: number | null;
  /** Arrival − detectedAt: storing the event, the webhooks queue and the HTTP delivery. */
  afterStoredMs: number | null;
  /** Arrival − the envelope's createdAt (the event and its deliveries committed, job about to be added). */
  afterEmitMs: number | null;
}

export interface DriftLatencyRun {
  episodes: DriftEpisode[];
  /** drift.detected events of the version whose source never changed (should be 0). */
  stableVersionEvents: number;
  /** Deliveries received in all (one per drifting version expected). */
  deliveries: number;
  framesPerSecondPerVersion: number;
}

interface Arrival {
  at: number;
  body: string;
  verified: boolean;
}

/**
 * Drift latency: `episodes` model versions and one stable version stream live traffic (frames stamped with
 * the publish time); after `stableMs` each drifting version's source switches to darker, blurred frames with
 * strangers, one after the other. Measures the time from the end of the first window holding drifted frames
 * to the `drift.detected` webhook's arrival at a receiver on 127.0.0.1, and its parts.
 */
export async function measureDriftLatency(
  cloud: { url: string; mqttUrl: string; adminToken: string },
  settings: DriftLatencySettings,
  log: (line: string) => void,
): Promise<DriftLatencyRun> {
  const arrivals: Arrival[] = [];
  const receiver = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const body = Buffer.concat(chunks).toString('utf8');
      const header = (name: string) => String(req.headers[name.toLowerCase()] ?? '');
      const verified = verifyWebhook({ secret: SECRET, timestamp: header(WEBHOOK_HEADERS.timestamp), body, signature: header(WEBHOOK_HEADERS.signature) }).ok;
      if (header(WEBHOOK_HEADERS.event) === 'drift.detected') arrivals.push({ at, body, verified });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
  const api = new ApiClient({ baseUrl: cloud.url, token: cloud.adminToken });
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/edgeloop-hooks`;
  await api.post(apiPaths.webhooks(), { url: receiverUrl, events: ['drift.detected'], secret: SECRET });

  const stableVersion = settings.episodes + 1;
  const versions = Array.from({ length: stableVersion }, (_, i) => i + 1);
  const ids = versions.flatMap((v) => Array.from({ length: settings.devicesPerVersion }, (_, d) => `drift-v${v}-${d + 1}`));
  const devices = await provisionDevices(api, cloud.mqttUrl, ids, 'drift-bench');
  const versionOf = (device: BenchDevice) => Number(/^drift-v(\d+)-/.exec(device.id)![1]);
  const started = Date.now();
  const switchAt = new Map<number, number>(versions.filter((v) => v !== stableVersion).map((v) => [v, started + settings.stableMs + (v - 1) * settings.switchSpacingMs]));
  /** The first drifted frame of each version: the window start of its first drifted batch. */
  const switchedAt = new Map<number, number>();
  let streaming = true;
  const publishErrors: string[] = [];

  const stream = async (device: BenchDevice) => {
    const version = versionOf(device);
    const topic = topics.predictions(device.id);
    let seq = 0;
    let next = Date.now() + settings.batchMs;
    while (streaming) {
      await sleep(Math.max(0, next - Date.now()));
      const end = Date.now();
      next += settings.batchMs;
      const start = end - settings.batchMs;
      const drifting = switchAt.has(version) && start >= switchAt.get(version)!;
      if (drifting && (!switchedAt.has(version) || switchedAt.get(version)! > start)) switchedAt.set(version, start);
      const batch = wireBatch(device.id, ++seq, { name: settings.modelName, version }, drifting ? DARK_BLURRED_STRANGERS : STABLE, {
        frames: settings.framesPerBatch,
        end,
        spanMs: settings.batchMs,
        centroid: settings.centroid,
      });
      await device.client.publishAsync(topic, JSON.stringify(batch), { qos: MQTT_QOS }).catch((err: Error) => publishErrors.push(err.message));
    }
  };

  try {
    const streams = devices.map(stream);
    const lastSwitch = Math.max(...switchAt.values());
    log(`  streaming ${ids.length} devices; switches at +${[...switchAt.values()].map((t) => ((t - started) / 1000).toFixed(2)).join(', +')} s`);
    const deadline = lastSwitch + WAIT_AFTER_LAST_SWITCH_MS;
    while (Date.now() < deadline && arrivals.length < settings.episodes) await sleep(100);
    // a little more traffic, so a late false alarm on the stable version would show
    await sleep(settings.checkSeconds * 2000);
    streaming = false;
    await Promise.all(streams);
    if (publishErrors.length > 0) throw new Error(`publishing failed: ${publishErrors.slice(0, 3).join('; ')}`);

    const events = (await api.get<{ events: Array<{ driftEventId: string; model: { version: number }; detectedAt: string; window: { start: string; end: string }; evidence: Array<{ metric: string }> }> }>(
      `${apiPaths.driftEvents()}?model=${encodeURIComponent(settings.modelName)}`,
    )).events;
    const bucketMs = settings.bucketSeconds * 1000;
    const episodes: DriftEpisode[] = [...switchAt.keys()].map((version) => {
      const switched = switchedAt.get(version) ?? switchAt.get(version)!;
      const boundary = Math.floor(switched / bucketMs) * bucketMs + bucketMs;
      const event = events.find((e) => e.model.version === version);
      const arrival = event ? arrivals.find((a) => (JSON.parse(a.body) as { data: { driftEventId: string } }).data.driftEventId === event.driftEventId) : undefined;
      const createdAt = arrival ? Date.parse((JSON.parse(arrival.body) as { createdAt: string }).createdAt) : NaN;
      const windowEnd = event ? Date.parse(event.window.end) : NaN;
      const detected = event ? Date.parse(event.detectedAt) : NaN;
      const ms = (v: number) => (Number.isFinite(v) ? Math.round(v) : null);
      return {
        version,
        switchedAt: new Date(switched).toISOString(),
        boundary: new Date(boundary).toISOString(),
        eventWindow: event?.window ?? null,
        detectedAt: event?.detectedAt ?? null,
        arrivedAt: arrival ? new Date(arrival.at).toISOString() : null,
        metrics: event?.evidence.map((e) => e.metric) ?? [],
        signatureVerified: arrival?.verified ?? false,
        totalMs: ms((arrival?.at ?? NaN) - boundary),
        confirmMs: ms(windowEnd - boundary),
        checkDelayMs: ms(detected - windowEnd),
        afterStoredMs: ms((arrival?.at ?? NaN) - detected),
        afterEmitMs: ms((arrival?.at ?? NaN) - createdAt),
      };
    });
    return {
      episodes,
      stableVersionEvents: events.filter((e) => e.model.version === stableVersion).length,
      deliveries: arrivals.length,
      framesPerSecondPerVersion: Math.round((settings.devicesPerVersion * settings.framesPerBatch * 1000) / settings.batchMs),
    };
  } finally {
    streaming = false;
    await disconnect(devices);
    await new Promise((resolve) => receiver.close(resolve));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
