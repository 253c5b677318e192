import { EMBEDDING_DIMENSION, MESSAGE_VERSION, type FrameResult, type ModelVersionRef, type PredictionBatch } from '@edgeloop/contracts';
import type { BatchSettings } from '../config/edge.config';
import { round } from './frame-result';

/** A batch before the outbox gives it its sequence number. */
export type UnnumberedBatch = Omit<PredictionBatch, 'seq'>;

interface Window {
  model: ModelVersionRef;
  start: number;
  items: FrameResult[];
  skipped: number;
  failed: number;
  embeddingSum: Float64Array;
  embeddings: number;
}

/**
 * Groups frame results into prediction batches: a batch closes when it holds `maxItems` results, when
 * it is `maxMs` old (checked by `tick`), or when the model changes (every item of a batch comes from the
 * same version). Frames skipped or failed in the window are counted in it, and the mean face embedding
 * is attached for centroid drift.
 */
export class PredictionBatcher {
  private window: Window | undefined;

  constructor(
    private readonly deviceId: string,
    private readonly settings: Pick<BatchSettings, 'maxItems' | 'maxMs'>,
    private readonly emit: (batch: UnnumberedBatch) => void,
  ) {}

  add(model: ModelVersionRef, item: FrameResult, embeddings: readonly Float32Array[]): void {
    const window = this.open(model, item.ts);
    window.items.push(item);
    for (const embedding of embeddings) {
      if (embedding.length !== EMBEDDING_DIMENSION) continue;
      for (let i = 0; i < EMBEDDING_DIMENSION; i++) window.embeddingSum[i] += embedding[i] as number;
      window.embeddings++;
    }
    if (window.items.length >= this.settings.maxItems) this.flush();
  }

  /** Frames that produced no item: skipped (the source outran inference) or failed. */
  addDropped(model: ModelVersionRef, dropped: { skipped: number; failed: number }, now = Date.now()): void {
    if (dropped.skipped === 0 && dropped.failed === 0) return;
    const window = this.open(model, now);
    window.skipped += dropped.skipped;
    window.failed += dropped.failed;
  }

  /** Closes the window when it is old enough; call about once a second. */
  tick(now = Date.now()): void {
    if (this.window && now - this.window.start >= this.settings.maxMs) this.flush(now);
  }

  flush(now = Date.now()): void {
    const window = this.window;
    if (!window) return;
    this.window = undefined;
    const end = Math.max(now, ...window.items.map((item) => item.ts));
    const batch: UnnumberedBatch = {
      v: MESSAGE_VERSION,
      deviceId: this.deviceId,
      model: window.model,
      window: { start: window.start, end },
      items: window.items,
      dropped: { skipped: window.skipped, failed: window.failed },
    };
    if (window.embeddings > 0) {
      batch.embeddingCentroid = {
        count: window.embeddings,
        mean: Array.from(window.embeddingSum, (sum) => round(sum / window.embeddings, 5)),
      };
    }
    this.emit(batch);
  }

  private open(model: ModelVersionRef, ts: number): Window {
    if (this.window && (this.window.model.name !== model.name || this.window.model.version !== model.version)) this.flush();
    this.window ??= {
      model: { name: model.name, version: model.version },
      start: ts,
      items: [],
      skipped: 0,
      failed: 0,
      embeddingSum: new Float64Array(EMBEDDING_DIMENSION),
      embeddings: 0,
    };
    if (ts < this.window.start) this.window.start = ts;
    return this.window;
  }
}
