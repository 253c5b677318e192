import {
  HardExampleSchema,
  PAYLOAD_LIMITS,
  PredictionBatchSchema,
  type DeviceHealth,
  type ModelVersionRef,
} from '@edgeloop/contracts';
import type { FrameResult as PipelineResult } from '@edgeloop/vision';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DeviceChannel } from './agent/device-channel';
import { AGENT_VERSION, DeviceStateTracker } from './agent/device-state';
import { EdgeAgent } from './agent/edge-agent';
import type { EdgeConfig } from './config/edge.config';
import { BlobFetcher } from './deploy/blob-fetcher';
import { Deployer } from './deploy/deployer';
import { configureLogging, Logger } from './logger';
import { EdgeMetrics } from './ops/edge-metrics';
import { FrameHealth } from './ops/frame-health';
import { OpsServer, type HealthReport } from './ops/ops-server';
import { Outbox } from './outbox/outbox';
import { OutboxSender } from './outbox/outbox-sender';
import { toFrameResult } from './results/frame-result';
import { HardExampleSelector } from './results/hard-example-selector';
import { PredictionBatcher, type UnnumberedBatch } from './results/prediction-batcher';
import { loadAtBoot } from './runtime/boot';
import { describe, ModelRuntime } from './runtime/model-runtime';
import { PipelineLoader, type LoadedModel } from './runtime/pipeline-loader';
import { createSource, type Frame, type FrameSource } from './sources';
import { DesiredStateWatermark } from './store/desired-watermark';
import { ModelStore, type VersionPointer } from './store/model-store';

export interface WorkerStats {
  frames: number;
  faces: number;
  recognised: number;
  failedFrames: number;
  skippedFrames: number;
}

/** One processed frame, for observers (tests, benchmarks). */
export interface ProcessedFrame {
  seq: number;
  model: ModelVersionRef;
  faces: number;
}

export interface EdgeWorkerOptions {
  /** Frames from here instead of the configured EDGE_SOURCE. */
  source?: FrameSource;
  onFrame?: (frame: ProcessedFrame) => void;
}

/**
 * The edge worker: composes the model store, the serving model, the MQTT agent, the durable outbox and
 * the operations endpoint, and runs the inference loop. The loop takes the serving model once per frame,
 * so a switch happens between two frames; results are batched into the outbox, hard examples selected.
 * Nothing here needs the network: with no broker and no cloud it serves its last installed version.
 */
export class EdgeWorker {
  private readonly logger = new Logger(EdgeWorker.name);
  readonly store: ModelStore;
  readonly watermark: DesiredStateWatermark;
  readonly runtime = new ModelRuntime();
  readonly metrics: EdgeMetrics;
  readonly tracker: DeviceStateTracker;
  readonly health = new FrameHealth();
  readonly channel: DeviceChannel | undefined;
  readonly ops: OpsServer;
  readonly stats: WorkerStats = { frames: 0, faces: 0, recognised: 0, failedFrames: 0, skippedFrames: 0 };
  outbox: Outbox | undefined;
  agent: EdgeAgent | undefined;
  sender: OutboxSender | undefined;
  private readonly loader: PipelineLoader;
  private readonly batcher: PredictionBatcher;
  private readonly hardExamples: HardExampleSelector;
  private source: FrameSource | undefined;
  private batchTimer: NodeJS.Timeout | undefined;
  private looping = false;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private wakeIdle: (() => void) | undefined;
  private loopFinished: Promise<void> | undefined;

  constructor(
    private readonly config: EdgeConfig,
    private readonly options: EdgeWorkerOptions = {},
  ) {
    configureLogging({ level: config.logLevel, device: config.deviceId });
    this.store = new ModelStore(config.stateDir);
    this.watermark = new DesiredStateWatermark(config.stateDir);
    this.loader = new PipelineLoader(this.store, { threads: config.threads, modelsDir: config.modelsDir, galleryDir: config.galleryDir });
    this.channel = config.mqtt ? new DeviceChannel(config.mqtt, config.deviceId, AGENT_VERSION) : undefined;
    this.metrics = new EdgeMetrics(config.deviceId, {
      fps: () => this.health.fps(),
      outboxRows: () => this.outbox?.stats().rows ?? 0,
      outboxPredictionRows: () => this.outbox?.stats().predictionRows ?? 0,
      outboxBytes: () => this.outbox?.stats().bytes ?? 0,
      outboxDroppedPredictions: () => this.outbox?.stats().droppedPredictions ?? 0,
      outboxDroppedHardExamples: () => this.outbox?.stats().droppedHardExamples ?? 0,
      skippedFrames: () => this.stats.skippedFrames,
      mqttConnected: () => this.channel?.connected ?? false,
    });
    this.tracker = new DeviceStateTracker(config.deviceId, this.runtime, () => this.deviceHealth());
    this.ops = new OpsServer(this.metrics, () => this.healthReport());
    this.batcher = new PredictionBatcher(config.deviceId, config.batch, (batch) => this.enqueueBatch(batch));
    this.hardExamples = new HardExampleSelector(config.deviceId, config.hardExamples);
    this.runtime.onSwitch((model) => this.metrics.setModel(model.ref, model.origin));
  }

  /** Opens the store and outbox, loads the model to serve (no network needed), then starts the agent. */
  async start(): Promise<void> {
    const { config } = this;
    await mkdir(config.stateDir, { recursive: true });
    await this.store.open();
    await this.watermark.load();
    this.outbox = Outbox.open(join(config.stateDir, 'outbox.sqlite'), config.outbox);
    await this.ops.start(config.httpHost, config.httpPort);

    const boot = await loadAtBoot(this.store, this.loader);
    await this.runtime.install(boot.model);
    const base = await this.loader.describeBase();
    this.tracker.setLastKnownGood(fallbackFor(boot.model, boot.lastKnownGood, base.ref));
    if (boot.failure) {
      const { target, deploymentId, message } = boot.failure;
      this.tracker.set({ state: 'failed', target, deploymentId, failure: { code: 'load_failed', message } });
    } else if (boot.model.origin === 'store') {
      this.tracker.set({ state: 'active', target: null, deploymentId: boot.active?.deploymentId ?? null });
    }
    this.logger.info(`serving ${describe(boot.model)}`);

    this.batchTimer = setInterval(() => this.batcher.tick(), Math.min(1_000, config.batch.maxMs));
    this.batchTimer.unref();

    const deployer = new Deployer({
      deviceId: config.deviceId,
      publicKey: config.signingPublicKey,
      store: this.store,
      watermark: this.watermark,
      fetcher: new BlobFetcher({ cloudUrl: config.cloudUrl, token: config.httpToken, ...config.download }),
      loader: this.loader,
      runtime: this.runtime,
      tracker: this.tracker,
      metrics: this.metrics,
      baseRef: base.ref,
      baseFiles: base.files,
    });
    if (!config.signingPublicKey && config.mqtt) this.logger.warn('EDGE_SIGNING_PUBLIC_KEY is not set: every desired state will be refused');
    if (this.channel) {
      this.sender = new OutboxSender(this.outbox, this.channel, { deviceId: config.deviceId, inflight: config.outbox.inflight });
      this.sender.onAcknowledged = (row) => {
        if (row.kind === 'predictions') this.metrics.batchesAcknowledged.inc();
      };
      this.sender.start();
    }
    this.agent = new EdgeAgent({
      deviceId: config.deviceId,
      channel: this.channel,
      store: this.store,
      watermark: this.watermark,
      deployer,
      tracker: this.tracker,
      metrics: this.metrics,
      heartbeatMs: config.heartbeatMs,
      retryMs: config.deployRetryMs,
    });
    await this.agent.start();
    this.channel?.start();
  }

  /** Runs the inference loop until the source ends, `maxFrames` are done, or stop() is called. */
  async run(): Promise<WorkerStats> {
    const source = this.options.source ?? (this.config.source ? createSource(this.config.source, this.config.sourceOptions) : undefined);
    if (!source) {
      this.logger.warn('no frame source configured (EDGE_SOURCE): serving the agent only');
      if (!this.stopping) await new Promise<void>((resolve) => (this.wakeIdle = resolve));
      return this.stats;
    }
    this.source = source;
    source.start();
    this.logger.info(`playing ${source.name}${this.options.source ? '' : ` at up to ${this.config.fps} fps`}`);
    this.looping = true;
    let finished!: () => void;
    this.loopFinished = new Promise<void>((resolve) => (finished = resolve));
    try {
      for (;;) {
        const frame = await source.next();
        if (!frame || this.stopping) break;
        this.countSkipped(source);
        // The serving model is read once per frame: a switch lands between two frames.
        const model = this.runtime.current;
        if (!model) break;
        try {
          const result = await model.pipeline.process(frame.image);
          await this.record(frame, model, result);
        } catch (err) {
          this.stats.failedFrames++;
          this.metrics.frames.inc({ result: 'failed' });
          this.batcher.addDropped(model.ref, { skipped: 0, failed: 1 });
          this.logger.warn(`frame ${frame.seq} (${frame.origin}) failed: ${(err as Error).message}`);
        }
        if (this.config.maxFrames && this.stats.frames >= this.config.maxFrames) break;
      }
    } finally {
      this.looping = false;
      this.countSkipped(source);
      source.stop();
      finished();
    }
    this.batcher.flush();
    if (source.lastError) throw source.lastError;
    return this.stats;
  }

  /** Flushes the open batch to the outbox, says `offline`, releases the models. Safe to call twice. */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  get httpPort(): number {
    return this.ops.port;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.wakeIdle?.();
    this.source?.stop();
    await this.loopFinished;
    if (this.batchTimer) clearInterval(this.batchTimer);
    await this.agent?.stop();
    this.batcher.flush();
    this.sender?.stop();
    await this.channel?.stop();
    await this.ops.stop();
    await this.runtime.release();
    this.outbox?.close();
  }

  private countSkipped(source: FrameSource): void {
    const skipped = source.stats.skipped - this.stats.skippedFrames;
    if (skipped <= 0) return;
    this.stats.skippedFrames = source.stats.skipped;
    const model = this.runtime.current;
    if (model) this.batcher.addDropped(model.ref, { skipped, failed: 0 });
  }

  private async record(frame: Frame, model: LoadedModel, result: PipelineResult): Promise<void> {
    this.stats.frames++;
    this.stats.faces += result.faces.length;
    this.metrics.frames.inc({ result: 'ok' });
    this.metrics.faces.inc(result.faces.length);
    const { timings } = result;
    this.metrics.observeStages({
      decode: timings.decodeMs,
      detect: timings.detectMs,
      align: timings.alignMs,
      embed: timings.embedMs,
      head: timings.headMs,
      total: timings.totalMs,
    });
    this.health.record(timings.totalMs);
    const item = toFrameResult(frame.capturedAt, result);
    this.batcher.add(model.ref, item, result.faces.flatMap((face) => (face.embedding ? [face.embedding] : [])));
    for (const example of await this.hardExamples.select(frame.image, frame.capturedAt, model.ref, result)) {
      this.metrics.hardExamples.inc({ reason: example.reason });
      this.enqueue('hard-example', HardExampleSchema, example);
    }
    for (const face of result.faces) if (face.identity) this.stats.recognised++;
    this.options.onFrame?.({ seq: frame.seq, model: model.ref, faces: result.faces.length });
    if (this.config.logFrames) this.logFrame(frame, result);
  }

  private enqueueBatch(batch: UnnumberedBatch): void {
    this.enqueue('predictions', PredictionBatchSchema, batch);
  }

  /** Validates and stores a message in the outbox (a batch gets its seq there), then nudges the sender. */
  private enqueue(kind: 'predictions' | 'hard-example', schema: typeof PredictionBatchSchema | typeof HardExampleSchema, message: object): void {
    const outbox = this.outbox;
    if (!outbox) return;
    const limit = kind === 'predictions' ? PAYLOAD_LIMITS.predictions : PAYLOAD_LIMITS['hard-examples'];
    const serialise = (value: object): string => {
      const checked = schema.safeParse(value);
      if (!checked.success) throw new Error(`does not pass its schema: ${checked.error.message.slice(0, 500)}`);
      const json = JSON.stringify(value);
      if (Buffer.byteLength(json) > limit) throw new Error(`is ${Buffer.byteLength(json)} bytes, over the ${limit}-byte limit`);
      return json;
    };
    try {
      const { dropped } =
        kind === 'predictions'
          ? outbox.appendBatch((seq) => serialise({ ...message, seq }))
          : outbox.appendHardExample(serialise(message));
      if (kind === 'predictions') this.metrics.batchesQueued.inc();
      if (dropped > 0) this.logger.warn(`outbox full: dropped the ${dropped} oldest row(s) (drop-oldest policy)`);
    } catch (err) {
      this.logger.error(`${kind} not stored: ${(err as Error).message}`);
      return;
    }
    this.sender?.drain();
  }

  private deviceHealth(): DeviceHealth {
    const outbox = this.outbox?.stats();
    return {
      fps: this.health.fps(),
      latencyMs: this.health.latency(),
      rssBytes: process.memoryUsage.rss(),
      outboxDepth: outbox?.predictionRows ?? 0,
      outboxDropped: outbox?.droppedPredictions ?? 0,
      droppedFrames: this.stats.skippedFrames,
    };
  }

  private healthReport(): HealthReport {
    const model = this.runtime.current;
    const ok = model !== undefined && !this.stopping && (this.looping || (!this.options.source && !this.config.source));
    const status = this.tracker.current;
    const outbox = this.outbox?.stats();
    return {
      ok,
      status: ok ? 'ok' : this.stopping ? 'stopping' : 'starting',
      deviceId: this.config.deviceId,
      state: status.state,
      failure: status.failure,
      deploymentId: status.deploymentId,
      running: this.runtime.running,
      origin: model?.origin ?? null,
      lastKnownGood: this.tracker.fallback,
      target: status.target,
      brokerConnected: this.channel?.connected ?? false,
      outboxDepth: outbox?.predictionRows ?? 0,
      outboxRows: outbox?.rows ?? 0,
      outboxDropped: outbox?.droppedPredictions ?? 0,
      lastSeq: outbox?.lastSeq ?? 0,
      fps: this.health.fps(),
      latencyMs: this.health.latency(),
      frames: this.stats.frames,
      failedFrames: this.stats.failedFrames,
      skippedFrames: this.stats.skippedFrames,
      rssBytes: process.memoryUsage.rss(),
    };
  }

  private logFrame(frame: Frame, result: PipelineResult): void {
    const described = result.faces.map((face) => {
      const who = face.identity ?? `unknown${face.candidate ? ` (closest ${face.candidate})` : ''}`;
      const score = face.identityScore === null ? '' : ` score ${face.identityScore.toFixed(2)} margin ${face.margin?.toFixed(2)}`;
      return `${who}${score}`;
    });
    const t = result.timings;
    this.logger.info(
      `frame ${frame.seq} ${frame.origin}: ${result.faces.length ? described.join('; ') : 'no face'} — ${t.totalMs.toFixed(0)} ms` +
        ` (detect ${t.detectMs.toFixed(0)}, align ${t.alignMs.toFixed(0)}, embed ${t.embedMs.toFixed(0)})`,
    );
  }
}

/** What the device falls back to if what it serves cannot start: last-known-good, else the base folder. */
export function fallbackFor(model: LoadedModel, lastKnownGood: VersionPointer | undefined, base: ModelVersionRef): ModelVersionRef | null {
  if (model.origin === 'base') return null;
  if (lastKnownGood && (lastKnownGood.name !== model.ref.name || lastKnownGood.version !== model.ref.version)) {
    return { name: lastKnownGood.name, version: lastKnownGood.version };
  }
  return base;
}
