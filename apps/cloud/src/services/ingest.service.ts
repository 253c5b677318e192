import { Injectable, Logger } from '@nestjs/common';
import { predictionBatchKey, predictionBatchOfJob, type DecodedDeviceMessage, type JobPayload, type PredictionBatch } from '@edgeloop/contracts';
import { UnrecoverableError } from 'bullmq';
import { accumulateBatch, accumulateFrame, createWindowStats, mergeWindowStats, type WindowStats } from '@edgeloop/drift';
import { CloudConfig } from '../config/cloud.config';
import { SqlDatabase } from '../database/sql-database';
import { PredictionsQueue } from '../queues/predictions.queue';
import { DeadLetterRepository } from '../repositories/dead-letter.repository';
import { AggregateKey, keyName, PredictionRepository } from '../repositories/prediction.repository';
import { HardExampleService, InvalidCropError } from './hard-example.service';

/**
 * Jobs written together in one transaction at most, and how long the first of them waits for company when the
 * process writes nothing. Two groups are in hand at most — one storing its raw payloads in S3 while the other
 * is in its transaction — and the jobs that arrive meanwhile wait and go in the next group, so groups grow with
 * the load. A process runs one ingest transaction at a time: its groups queue for the aggregate and counter rows
 * in memory, not on row locks.
 */
const MAX_GROUP = 64;
const GROUP_WAIT_MS = 5;
const GROUPS_IN_HAND = 2;

/** A batch waiting for its group's transaction: `raw` is the payload to keep (null when raw payloads are off). */
interface PendingBatch {
  batch: PredictionBatch;
  receivedAt: number;
  raw: Buffer | null;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Prediction ingest: MQTT batches and hard examples go into the `predictions` queue (the PUBACK waits
 * until the job is in Redis); workers drop duplicates by (device, epoch, seq) and add each batch to its
 * per-(device, model version, bucket) aggregates in the same SQL transaction, so every batch counts once.
 */
@Injectable()
export class IngestService {
  private readonly logger = new Logger(IngestService.name);

  constructor(
    private readonly config: CloudConfig,
    private readonly db: SqlDatabase,
    private readonly queue: PredictionsQueue,
    private readonly predictions: PredictionRepository,
    private readonly hardExamples: HardExampleService,
    private readonly deadLetters: DeadLetterRepository,
  ) {}

  async onDeviceMessage(message: DecodedDeviceMessage, receivedAt: Date): Promise<void> {
    if (message.kind === 'predictions') await this.queue.addBatch(message.message, receivedAt.getTime(), message.payload);
    else if (message.kind === 'hard-examples') await this.queue.addHardExample(message.message, receivedAt.getTime());
  }

  /**
   * Resolves once the batch is counted (or found to be a duplicate). Jobs that arrive together are written
   * in one transaction — one multi-row dedupe insert, the aggregate rows created, locked and updated in
   * three statements, the counters in one — and each job resolves or fails with it (BullMQ retries a failed
   * one; the dedupe key makes the retry safe). Their raw payloads, when kept, go to S3 as one object first.
   * A job whose payload does not decode to the batch it names is counted, dead-lettered and unrecoverable.
   */
  async ingestBatch(job: JobPayload<'predictions.ingest'>): Promise<void> {
    const decoded = predictionBatchOfJob(job);
    if (!decoded.ok) {
      await this.invalidJob('predictions.ingest', { deviceId: job.deviceId, epoch: job.epoch, seq: job.seq }, decoded.error.message);
      throw new UnrecoverableError(`predictions.ingest: ${decoded.error.message}`);
    }
    const batch = decoded.value;
    const raw =
      this.config.rawRetentionHours > 0 ? (job.payload !== undefined ? Buffer.from(job.payload, 'base64') : Buffer.from(JSON.stringify(batch))) : null;
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ batch, receivedAt: job.receivedAt, raw, resolve, reject });
      this.schedule();
    });
  }

  /**
   * A group job's batches, each as `ingestBatch` takes it: resolves once every valid one is counted; a batch
   * that does not decode is counted and dead-lettered alone (the others go on). When a write fails the job
   * fails and is retried whole — the batches already counted are then duplicates, dropped by the dedupe.
   */
  async ingestBatchGroup(job: JobPayload<'predictions.ingest-group'>): Promise<void> {
    const results = await Promise.allSettled(job.batches.map((batch) => this.ingestBatch(batch)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !(r.reason instanceof UnrecoverableError));
    if (failed) throw failed.reason;
  }

  private readonly pending: PendingBatch[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  /** Groups being written; when one is done, the jobs that waited meanwhile start the next. */
  private groupsInHand = 0;
  /** The last group's transaction: the next one starts once it has ended. */
  private lastTransaction: Promise<unknown> = Promise.resolve();

  private schedule(): void {
    if (this.groupsInHand >= GROUPS_IN_HAND) return; // a group that ends starts the next one
    if (this.pending.length >= MAX_GROUP) this.startGroup();
    else this.flushTimer ??= setTimeout(() => this.startGroup(), GROUP_WAIT_MS);
  }

  private startGroup(): void {
    if (this.groupsInHand >= GROUPS_IN_HAND) return;
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const group = this.pending.splice(0, MAX_GROUP);
    if (group.length === 0) return;
    this.groupsInHand++;
    void this.writeGroup(group).finally(() => {
      this.groupsInHand--;
      // what arrived while the groups in hand were written has waited long enough: write it now
      if (this.pending.length > 0) setImmediate(() => this.startGroup());
    });
  }

  private async writeGroup(group: PendingBatch[]): Promise<void> {
    try {
      const kept = group.filter((item) => item.raw !== null);
      const refs = await this.predictions.putRawBatches(
        kept.map(({ batch, receivedAt, raw }) => ({ deviceId: batch.deviceId, epoch: batch.epoch ?? '', seq: batch.seq, receivedAt, payload: raw! })),
      );
      const refOf = new Map(kept.map((item, i) => [item, refs[i]!]));
      const transaction = this.lastTransaction.then(() =>
        this.db.transaction(async (tx) => {
          const fresh = await this.predictions.recordBatches(
            tx,
            group.map((item) => ({ batch: item.batch, receivedAt: new Date(item.receivedAt), rawRef: refOf.get(item) ?? null })),
          );
          const aggregates = new Map<string, { key: AggregateKey; stats: WindowStats }>();
          let batches = 0;
          let frames = 0;
          for (const { batch } of group) {
            if (!fresh.delete(predictionBatchKey(batch))) continue;
            batches++;
            frames += batch.items.length;
            for (const [bucketStart, stats] of this.bucketed(batch)) {
              const key: AggregateKey = { deviceId: batch.deviceId, model: batch.model, bucketStart: new Date(bucketStart) };
              const name = keyName(key);
              const existing = aggregates.get(name);
              aggregates.set(name, { key, stats: existing ? mergeWindowStats(existing.stats, stats) : stats });
            }
          }
          await this.predictions.mergeAggregates(tx, [...aggregates.values()]);
          await this.predictions.incrementCounters({ batches, frames, batches_duplicate: group.length - batches }, tx);
        }),
      );
      this.lastTransaction = transaction.catch(() => undefined);
      await transaction;
      for (const item of group) item.resolve();
    } catch (err) {
      this.logger.warn(`writing ${group.length} batch(es) failed; each will be retried: ${(err as Error).message}`);
      for (const item of group) item.reject(err);
    }
  }

  /** Stores a hard example once; one whose crop is not the JPEG it claims is counted and dead-lettered, not retried. */
  async ingestHardExample(job: JobPayload<'predictions.hard-example'>): Promise<void> {
    let stored: boolean;
    try {
      stored = await this.hardExamples.store(job.hardExample, new Date(job.receivedAt));
    } catch (err) {
      if (!(err instanceof InvalidCropError)) throw err;
      this.logger.warn(`hard example ${job.hardExample.deviceId}/${job.hardExample.id} refused: ${err.message}`);
      await this.predictions.incrementCounter('hard_examples_invalid');
      const { crop, ...rest } = job.hardExample;
      await this.deadLetters.record({
        source: 'job',
        topic: 'predictions.hard-example',
        code: err.code,
        message: err.message,
        payload: Buffer.from(safeJson({ ...rest, crop: crop && { width: crop.width, height: crop.height, chars: crop.data.length } }).slice(0, 512)),
      });
      return;
    }
    await this.predictions.incrementCounter(stored ? 'hard_examples' : 'hard_examples_duplicate');
  }

  async invalidJob(name: string, data: unknown, message: string): Promise<void> {
    await this.predictions.incrementCounter('jobs_invalid');
    await this.deadLetters.record({
      source: 'job',
      topic: name.slice(0, 100),
      code: 'invalid_payload',
      message,
      payload: Buffer.from(safeJson(data).slice(0, 512)),
    });
  }

  /** Frames go to the bucket of their timestamp; dropped counts and the centroid to the bucket of the window end. */
  private bucketed(batch: PredictionBatch): Map<number, WindowStats> {
    const size = this.config.aggregateBucketSeconds * 1000;
    const buckets = new Map<number, WindowStats>();
    const at = (ts: number) => {
      const start = Math.floor(ts / size) * size;
      let stats = buckets.get(start);
      if (!stats) buckets.set(start, (stats = createWindowStats()));
      return stats;
    };
    for (const frame of batch.items) accumulateFrame(at(frame.ts), frame);
    accumulateBatch(at(batch.window.end), { ...batch, items: [] });
    return buckets;
  }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
