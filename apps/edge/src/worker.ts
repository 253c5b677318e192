import { FacePipeline, readModelBundle, type FrameResult } from '@edgeloop/vision';
import type { EdgeConfig } from './config/edge.config';
import { Logger } from './logger';
import { enrolGallery } from './pipeline/gallery';
import { createSource, type FrameSource } from './sources';

export interface WorkerStats {
  frames: number;
  faces: number;
  recognised: number;
  failedFrames: number;
  skippedFrames: number;
}

/**
 * The edge worker's inference loop: frames from the configured source go one at a time through the face
 * pipeline; each result is logged. (The MQTT agent, model store and outbox attach here.)
 */
export class EdgeWorker {
  private readonly logger = new Logger(EdgeWorker.name);
  private source: FrameSource | undefined;
  private pipeline: FacePipeline | undefined;
  private stopping = false;
  readonly stats: WorkerStats = { frames: 0, faces: 0, recognised: 0, failedFrames: 0, skippedFrames: 0 };

  constructor(private readonly config: EdgeConfig) {}

  async start(): Promise<void> {
    const bundle = await readModelBundle(this.config.modelsDir);
    this.pipeline = await FacePipeline.load({
      models: bundle.models,
      labels: bundle.labels,
      intraOpNumThreads: this.config.threads,
      ...(bundle.thresholds.detection !== undefined ? { detectionThreshold: bundle.thresholds.detection } : {}),
      ...(bundle.thresholds.match !== undefined ? { matchThreshold: bundle.thresholds.match } : {}),
    });
    this.logger.info(`models loaded from ${this.config.modelsDir}`);
    if (this.config.galleryDir) {
      const gallery = await enrolGallery(this.pipeline, this.config.galleryDir);
      await this.pipeline.setHead(gallery.head, gallery.labels);
      this.logger.info(`enrolled ${gallery.labels.length} identities (${gallery.enrolled} photos): ${gallery.labels.join(', ')}`);
    }
  }

  /** Runs until the source ends, `maxFrames` are done, or stop() is called. */
  async run(): Promise<WorkerStats> {
    if (!this.config.source) throw new Error('no frame source configured (EDGE_SOURCE)');
    const pipeline = this.pipeline;
    if (!pipeline) throw new Error('start() first');
    const source = createSource(this.config.source, { fps: this.config.fps, loop: this.config.loop });
    this.source = source;
    source.start();
    this.logger.info(`playing ${source.name} at up to ${this.config.fps} fps`);
    for (;;) {
      const frame = await source.next();
      if (!frame || this.stopping) break;
      try {
        const result = await pipeline.process(frame.image);
        this.record(frame.origin, frame.seq, result);
      } catch (err) {
        this.stats.failedFrames++;
        this.logger.warn(`frame ${frame.seq} (${frame.origin}) failed: ${(err as Error).message}`);
      }
      if (this.config.maxFrames && this.stats.frames >= this.config.maxFrames) break;
    }
    source.stop();
    this.stats.skippedFrames = source.stats.skipped;
    if (source.lastError) throw source.lastError;
    return this.stats;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.source?.stop();
    await this.pipeline?.release();
  }

  private record(origin: string, seq: number, result: FrameResult): void {
    this.stats.frames++;
    this.stats.faces += result.faces.length;
    const described = result.faces.map((face) => {
      if (face.identity) this.stats.recognised++;
      const who = face.identity ?? `unknown${face.candidate ? ` (closest ${face.candidate})` : ''}`;
      const score = face.identityScore === null ? '' : ` score ${face.identityScore.toFixed(2)} margin ${face.margin?.toFixed(2)}`;
      return `${who}${score}`;
    });
    this.logger.info(
      `frame ${seq} ${origin}: ${result.faces.length ? described.join('; ') : 'no face'} — ${result.timings.totalMs.toFixed(0)} ms` +
        ` (detect ${result.timings.detectMs.toFixed(0)}, align ${result.timings.alignMs.toFixed(0)}, embed ${result.timings.embedMs.toFixed(0)})`,
    );
  }
}
