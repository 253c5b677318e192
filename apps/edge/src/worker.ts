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
import { WorkerHealthReporter } from './ops/health-report';
import { OpsServer } from './ops/ops-server';
import { Outbox } from './outbox/outbox';
import { OutboxSender } from './outbox/outbox-sender';
import { ResultsSink } from './results/results-sink';
import { serveAtBoot } from './runtime/boot';
import { InferenceLoop, type ProcessedFrame, type WorkerStats } from './runtime/inference-loop';
import { describe, ModelRuntime } from './runtime/model-runtime';
import { PipelineLoader } from './runtime/pipeline-loader';
import { createSource, type FrameSource } from './sources';
import { DesiredStateWatermark } from './store/desired-watermark';
import { ModelStore } from './store/model-store';

export type { ProcessedFrame, WorkerStats } from './runtime/inference-loop';

export interface EdgeWorkerOptions {
  /** Frames from here instead of the configured EDGE_SOURCE. */
  source?: FrameSource;
  onFrame?: (frame: ProcessedFrame) => void;
}

/**
 * The edge worker's composition root: builds the model store, the serving model, the MQTT agent, the
 * durable outbox, the results sink, the inference loop and the operations endpoint, starts them in order
 * and stops them in reverse; it only wires and orders. What serves at boot (runtime/boot.ts), the loop
 * (runtime/inference-loop.ts), the results (results/results-sink.ts) and the health report
 * (ops/health-report.ts) each live in their own file.
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
  outbox: Outbox | undefined;
  agent: EdgeAgent | undefined;
  sender: OutboxSender | undefined;
  private readonly loader: PipelineLoader;
  private readonly results: ResultsSink;
  private readonly loop: InferenceLoop;
  private readonly reporter: WorkerHealthReporter;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private wakeIdle: (() => void) | undefined;

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
    // the tracker asks for device health only when it reports, after the reporter below exists
    this.tracker = new DeviceStateTracker(config.deviceId, this.runtime, () => this.reporter.deviceHealth());
    this.results = new ResultsSink(config, this.metrics, { outbox: () => this.outbox, sender: () => this.sender });
    this.loop = new InferenceLoop(this.runtime, this.results, this.metrics, this.health, {
      maxFrames: config.maxFrames,
      logFrames: config.logFrames,
      onFrame: options.onFrame,
    });
    this.reporter = new WorkerHealthReporter({
      deviceId: config.deviceId,
      runtime: this.runtime,
      tracker: this.tracker,
      frameHealth: this.health,
      channel: this.channel,
      outbox: () => this.outbox,
      stats: () => this.stats,
      activity: () => ({ stopping: this.stopping, looping: this.loop.looping, agentOnly: !this.options.source && !this.config.source }),
    });
    this.ops = new OpsServer(this.metrics, () => this.reporter.healthReport());
    this.runtime.onSwitch((model) => this.metrics.setModel(model.ref, model.origin));
  }

  /** Counters of the inference loop: frames, faces, recognised, failed and skipped frames. */
  get stats(): WorkerStats {
    return this.loop.stats;
  }

  /** Opens the store and outbox, loads the model to serve (no network needed), then starts the agent. */
  async start(): Promise<void> {
    const { config } = this;
    await mkdir(config.stateDir, { recursive: true });
    await this.store.open();
    await this.watermark.load();
    this.outbox = Outbox.open(join(config.stateDir, 'outbox.sqlite'), config.outbox);
    await this.ops.start(config.httpHost, config.httpPort);

    const { model, base } = await serveAtBoot(this.store, this.loader, this.runtime, this.tracker);
    this.logger.info(`serving ${describe(model)}`);

    this.results.startBatchTimer(config.batch.maxMs);

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
      this.sender = new OutboxSender(this.outbox, this.channel, {
        deviceId: config.deviceId,
        inflight: config.outbox.inflight,
        ackTimeoutMs: config.outbox.ackTimeoutMs,
      });
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

  /** Runs the inference loop on the given or configured source until it ends, `maxFrames` are done, or stop() is called. */
  async run(): Promise<WorkerStats> {
    const source = this.options.source ?? (this.config.source ? createSource(this.config.source, this.config.sourceOptions) : undefined);
    if (!source) {
      this.logger.warn('no frame source configured (EDGE_SOURCE): serving the agent only');
      if (!this.stopping) await new Promise<void>((resolve) => (this.wakeIdle = resolve));
      return this.stats;
    }
    this.logger.info(`playing ${source.name}${this.options.source ? '' : ` at up to ${this.config.fps} fps`}`);
    return this.loop.run(source);
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
    await this.loop.stop();
    this.results.stopBatchTimer();
    await this.agent?.stop();
    this.results.flush();
    this.sender?.stop();
    await this.channel?.stop();
    await this.ops.stop();
    await this.runtime.release();
    this.outbox?.close();
  }
}
