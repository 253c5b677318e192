import {
  HardExampleSchema,
  PAYLOAD_LIMITS,
  PredictionBatchSchema,
  type ModelVersionRef,
  type PredictionBatch,
  type PredictionBatchEncoding,
} from '@edgeloop/contracts';
import type { FrameResult as PipelineResult } from '@edgeloop/vision';
import type { EdgeConfig } from '../config/edge.config';
import { Logger } from '../logger';
import type { EdgeMetrics } from '../ops/edge-metrics';
import type { Outbox } from '../outbox/outbox';
import type { OutboxSender } from '../outbox/outbox-sender';
import type { Frame } from '../sources';
import { toFrameResult } from './frame-result';
import { HardExampleSelector } from './hard-example-selector';
import { PredictionBatcher, type UnnumberedBatch } from './prediction-batcher';
import { encodePredictionPayload } from './prediction-payload';

/** Where results go once the worker has opened them: the durable outbox and, when there is a broker, its sender. */
export interface ResultsTargets {
  outbox(): Outbox | undefined;
  sender(): OutboxSender | undefined;
}

/**
 * The results side of the worker: each processed frame joins the open prediction batch and may give hard
 * examples; a full or timed-out batch, and every hard example, is checked against its schema, encoded (a
 * batch in `config.batch.encoding`, `columns` by default; a hard example as JSON), checked against its size
 * limit and stored in the outbox (a batch gets its sequence number there), then the sender is nudged.
 */
export class ResultsSink {
  private readonly logger = new Logger(ResultsSink.name);
  private readonly batcher: PredictionBatcher;
  private readonly hardExamples: HardExampleSelector;
  private batchTimer: NodeJS.Timeout | undefined;
  private readonly encoding: PredictionBatchEncoding;

  constructor(
    config: Pick<EdgeConfig, 'deviceId' | 'batch' | 'hardExamples'>,
    private readonly metrics: EdgeMetrics,
    private readonly targets: ResultsTargets,
  ) {
    this.encoding = config.batch.encoding;
    this.batcher = new PredictionBatcher(config.deviceId, config.batch, (batch) => this.enqueueBatch(batch));
    this.hardExamples = new HardExampleSelector(config.deviceId, config.hardExamples);
  }

  /** Closes a batch that has been open for its time limit, checked at most every second. */
  startBatchTimer(maxMs: number): void {
    this.batchTimer = setInterval(() => this.batcher.tick(), Math.min(1_000, maxMs));
    this.batchTimer.unref();
  }

  stopBatchTimer(): void {
    if (this.batchTimer) clearInterval(this.batchTimer);
  }

  /** Adds a processed frame to the open batch and stores the hard examples it gives. */
  async record(frame: Frame, model: ModelVersionRef, result: PipelineResult): Promise<void> {
    const item = toFrameResult(frame.capturedAt, result);
    this.batcher.add(
      model,
      item,
      result.faces.flatMap((face) => (face.embedding ? [face.embedding] : [])),
    );
    for (const example of await this.hardExamples.select(frame.image, frame.capturedAt, model, result)) {
      this.metrics.hardExamples.inc({ reason: example.reason });
      this.enqueue('hard-example', HardExampleSchema, example);
    }
  }

  /** Counts frames that were skipped or failed under a model in the open batch. */
  addDropped(model: ModelVersionRef, dropped: { skipped: number; failed: number }): void {
    this.batcher.addDropped(model, dropped);
  }

  /** Stores the open batch now. */
  flush(): void {
    this.batcher.flush();
  }

  private enqueueBatch(batch: UnnumberedBatch): void {
    this.enqueue('predictions', PredictionBatchSchema, batch);
  }

  /** Validates and stores a message in the outbox (a batch gets its seq there), then nudges the sender. */
  private enqueue(kind: 'predictions' | 'hard-example', schema: typeof PredictionBatchSchema | typeof HardExampleSchema, message: object): void {
    const outbox = this.targets.outbox();
    if (!outbox) return;
    const limit = kind === 'predictions' ? PAYLOAD_LIMITS.predictions : PAYLOAD_LIMITS['hard-examples'];
    const serialise = (value: object): string | Uint8Array => {
      const checked = schema.safeParse(value);
      if (!checked.success) throw new Error(`does not pass its schema: ${checked.error.message.slice(0, 500)}`);
      // a batch in the compact columns encoding unless EDGE_PREDICTION_ENCODING=json; hard examples stay JSON
      const payload = kind === 'predictions' ? encodePredictionPayload(value as PredictionBatch, this.encoding) : JSON.stringify(value);
      const bytes = Buffer.byteLength(payload);
      if (bytes > limit) throw new Error(`is ${bytes} bytes, over the ${limit}-byte limit`);
      return payload;
    };
    try {
      const { dropped } =
        kind === 'predictions'
          ? outbox.appendBatch((seq, epoch) => serialise({ ...message, seq, epoch }))
          : outbox.appendHardExample(serialise(message) as string);
      if (kind === 'predictions') this.metrics.batchesQueued.inc();
      if (dropped > 0) this.logger.warn(`outbox full: dropped the ${dropped} oldest row(s) (drop-oldest policy)`);
    } catch (err) {
      this.logger.error(`${kind} not stored: ${(err as Error).message}`);
      return;
    }
    this.targets.sender()?.drain();
  }
}
