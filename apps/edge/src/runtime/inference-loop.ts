import type { ModelVersionRef } from '@edgeloop/contracts';
import type { FrameResult as PipelineResult } from '@edgeloop/vision';
import { Logger } from '../logger';
import type { EdgeMetrics } from '../ops/edge-metrics';
import type { FrameHealth } from '../ops/frame-health';
import type { ResultsSink } from '../results/results-sink';
import type { Frame, FrameSource } from '../sources';
import type { ModelRuntime } from './model-runtime';
import type { LoadedModel } from './pipeline-loader';

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

export interface InferenceLoopOptions {
  /** Stop after this many processed frames (unset or 0: never). */
  maxFrames?: number;
  /** Log one line per frame with who was seen and the stage timings. */
  logFrames: boolean;
  onFrame?: (frame: ProcessedFrame) => void;
}

/**
 * The inference loop: takes frames from a source one at a time and runs each through the serving model,
 * read once per frame so a switch lands between two frames. It counts frames, faces and stage timings,
 * counts skipped and failed frames against the model that was serving, and hands results to the sink.
 */
export class InferenceLoop {
  private readonly logger = new Logger(InferenceLoop.name);
  readonly stats: WorkerStats = { frames: 0, faces: 0, recognised: 0, failedFrames: 0, skippedFrames: 0 };
  private source: FrameSource | undefined;
  private running = false;
  private stopping = false;
  private finished: Promise<void> | undefined;

  constructor(
    private readonly runtime: ModelRuntime,
    private readonly sink: ResultsSink,
    private readonly metrics: EdgeMetrics,
    private readonly health: FrameHealth,
    private readonly options: InferenceLoopOptions,
  ) {}

  /** True while frames are being taken from a source. */
  get looping(): boolean {
    return this.running;
  }

  /** Runs until the source ends, `maxFrames` are done, or stop() is called; rethrows the source's last error. */
  async run(source: FrameSource): Promise<WorkerStats> {
    this.source = source;
    source.start();
    this.running = true;
    let finished!: () => void;
    this.finished = new Promise<void>((resolve) => (finished = resolve));
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
          this.sink.addDropped(model.ref, { skipped: 0, failed: 1 });
          this.logger.warn(`frame ${frame.seq} (${frame.origin}) failed: ${(err as Error).message}`);
        }
        if (this.options.maxFrames && this.stats.frames >= this.options.maxFrames) break;
      }
    } finally {
      this.running = false;
      this.countSkipped(source);
      source.stop();
      finished();
    }
    this.sink.flush();
    if (source.lastError) throw source.lastError;
    return this.stats;
  }

  /** Stops the source and waits for the frame in hand to finish. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.source?.stop();
    await this.finished;
  }

  private countSkipped(source: FrameSource): void {
    const skipped = source.stats.skipped - this.stats.skippedFrames;
    if (skipped <= 0) return;
    this.stats.skippedFrames = source.stats.skipped;
    const model = this.runtime.current;
    if (model) this.sink.addDropped(model.ref, { skipped, failed: 0 });
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
    await this.sink.record(frame, model.ref, result);
    for (const face of result.faces) if (face.identity) this.stats.recognised++;
    this.options.onFrame?.({ seq: frame.seq, model: model.ref, faces: result.faces.length });
    if (this.options.logFrames) this.logFrame(frame, result);
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
