import type { ModelVersionRef } from '@edgeloop/contracts';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export const STAGES = ['decode', 'detect', 'align', 'embed', 'head', 'total'] as const;
export type Stage = (typeof STAGES)[number];

/** Live values the metrics read at scrape time. */
export interface MetricsProbe {
  fps(): number;
  outboxRows(): number;
  outboxPredictionRows(): number;
  outboxBytes(): number;
  outboxDroppedPredictions(): number;
  outboxDroppedHardExamples(): number;
  skippedFrames(): number;
  mqttConnected(): boolean;
}

/**
 * The worker's Prometheus metrics, in a registry of its own (several workers may share a process in
 * tests). Counters the worker keeps elsewhere (skipped frames, outbox drops, which persist across
 * restarts) are read at scrape time.
 */
export class EdgeMetrics {
  readonly registry = new Registry();
  readonly frames: Counter<'result'>;
  readonly faces: Counter;
  readonly stageSeconds: Histogram<'stage'>;
  readonly desiredRejected: Counter<'reason'>;
  readonly deployments: Counter<'result'>;
  readonly blobBytes: Counter;
  readonly batchesQueued: Counter;
  readonly batchesAcknowledged: Counter;
  readonly hardExamples: Counter<'reason'>;
  private readonly modelInfo: Gauge<'name' | 'version' | 'origin'>;

  constructor(deviceId: string, probe: MetricsProbe) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ device: deviceId });
    this.frames = new Counter({ name: 'edge_frames_total', help: 'Frames through the pipeline, by result (ok, failed)', labelNames: ['result'], registers });
    this.faces = new Counter({ name: 'edge_faces_total', help: 'Faces detected', registers });
    this.stageSeconds = new Histogram({
      name: 'edge_stage_latency_seconds',
      help: 'Per-frame pipeline latency by stage (total = whole frame)',
      labelNames: ['stage'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.desiredRejected = new Counter({
      name: 'edge_desired_rejected_total',
      help: 'Desired-state messages refused (too_large, invalid_json, invalid_payload, unexpected_topic; stale: issued before the newest one accepted)',
      labelNames: ['reason'],
      registers,
    });
    this.deployments = new Counter({
      name: 'edge_deployments_total',
      help: 'Desired states handled, by outcome (active, unchanged, or a failure code)',
      labelNames: ['result'],
      registers,
    });
    this.blobBytes = new Counter({ name: 'edge_blob_download_bytes_total', help: 'Model blob bytes downloaded', registers });
    this.batchesQueued = new Counter({ name: 'edge_prediction_batches_total', help: 'Prediction batches written to the outbox', registers });
    this.batchesAcknowledged = new Counter({
      name: 'edge_prediction_batches_acknowledged_total',
      help: 'Prediction batches acknowledged by the broker',
      registers,
    });
    this.hardExamples = new Counter({ name: 'edge_hard_examples_total', help: 'Hard examples selected, by reason', labelNames: ['reason'], registers });
    this.modelInfo = new Gauge({
      name: 'edge_model_info',
      help: 'The model version serving frames (value 1)',
      labelNames: ['name', 'version', 'origin'],
      registers,
    });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gauge('edge_fps', 'Frames per second over the last 10 s', () => probe.fps());
    gauge('edge_outbox_depth', 'Prediction batches waiting in the outbox', () => probe.outboxPredictionRows());
    gauge('edge_outbox_rows', 'Rows (batches and hard examples) waiting in the outbox', () => probe.outboxRows());
    gauge('edge_outbox_bytes', 'Payload bytes waiting in the outbox', () => probe.outboxBytes());
    // Counters kept elsewhere (persisted, or owned by the source) are copied in at scrape time.
    const counter = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    counter('edge_outbox_dropped_batches_total', 'Prediction batches dropped by the outbox bound (cumulative, persisted)', () =>
      probe.outboxDroppedPredictions(),
    );
    counter('edge_outbox_dropped_hard_examples_total', 'Hard examples dropped by the outbox bound (cumulative, persisted)', () =>
      probe.outboxDroppedHardExamples(),
    );
    counter('edge_frames_skipped_total', 'Frames skipped because inference was slower than the source', () => probe.skippedFrames());
    gauge('edge_mqtt_connected', '1 while the MQTT session is up', () => (probe.mqttConnected() ? 1 : 0));
    gauge('process_resident_memory_bytes', 'Resident set size', () => process.memoryUsage.rss());
  }

  observeStages(timings: Record<Stage, number>): void {
    for (const stage of STAGES) this.stageSeconds.observe({ stage }, timings[stage] / 1000);
  }

  setModel(ref: ModelVersionRef, origin: string): void {
    this.modelInfo.reset();
    this.modelInfo.set({ name: ref.name, version: String(ref.version), origin }, 1);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
