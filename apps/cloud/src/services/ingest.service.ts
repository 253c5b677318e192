import { Injectable, Logger } from '@nestjs/common';
import { predictionBatchKey, predictionBatchOfJob, type DecodedDeviceMessage, type JobPayload, type PredictionBatch } from '@edgeloop/contracts';
import { UnrecoverableError } from 'bullmq';
import { performance } from 'node:perf_hooks';
import { accumulateBatch, accumulateFrame, createWindowStats, mergeWindowStats, type WindowStats } from '@edgeloop/drift';
import { CloudConfig } from '../config/cloud.config';
import { SqlDatabase } from '../database/sql-database';
import { PredictionsQueue } from '../queues/predictions.queue';
import { DeadLetterRepository } from '../repositories/dead-letter.repository';
import { AggregateKey, keyName, PredictionRepository } from '../repositories/prediction.repository';
import { HardExampleService, InvalidCropError } from './hard-example.service';
import { RecentlyDecodedBatches } from './ingest-decoded-batches';

/**
 * Two stages, each grouping what arrives while it is busy. Raw payloads (when kept) go to S3 as one object
 * per `RAW_GROUP` batches, `RAW_PUTS_IN_FLIGHT` objects at a time (the first batch waits `GROUP_WAIT_MS` for
 * company when nothing is being stored); the batches whose raw payloads are stored then wait for the
 * process's one ingest transaction, and each transaction takes all of them that waited, up to
 * `MAX_TRANSACTION`. A transaction costs about the same for 10 batches as for 200 (one row per device, model
 * version and bucket to rewrite: ~15 ms of PGlite per transaction in the ingest bench), so transactions grow
 * with the load instead of their count. A process's
 * groups queue for the aggregate and counter rows in memory, not on row locks.
 */
const RAW_GROUP = 64;
const RAW_PUTS_IN_FLIGHT = 2;
const GROUP_WAIT_MS = 5;
const MAX_TRANSACTION = 256;
/**
 * After a transaction of T ms the next one starts T × `TRANSACTION_SPACING` ms later at the earliest (at most
 * `MAX_TRANSACTION_WAIT_MS`): ingest spends at most about a fifth of the time in transactions — on PGlite that is
 * the main thread's time, which the API and the MQTT acks need too — and the batches that wait meanwhile make
 * the next transaction larger, not more frequent (PGlite bench at equal load: 1.70–1.99 ms of cloud CPU a batch
 * with 4, 1.96–2.25 with 2).
 */
const TRANSACTION_SPACING = 4;
const MAX_TRANSACTION_WAIT_MS = 500;

/** A batch on its way into SQL: `raw` is the payload to keep (null when raw payloads are off), `rawRef` where it was kept. */
interface PendingBatch {
  batch: PredictionBatch;
  receivedAt: number;
  raw: Buffer | null;
  rawRef: string | null;
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

  /** Batches decoded here at the MQTT side, for this process's worker (only when it runs workers). */
  private readonly decoded = new RecentlyDecodedBatches();

  async onDeviceMessage(message: DecodedDeviceMessage, receivedAt: Date): Promise<void> {
    if (message.kind === 'predictions') {
      if (this.config.workers && message.payload !== undefined) this.decoded.remember(message.message, message.payload);
      await this.queue.addBatch(message.message, receivedAt.getTime(), message.payload);
    } else if (message.kind === 'hard-examples') await this.queue.addHardExample(message.message, receivedAt.getTime());
  }

  /**
   * Resolves once the batch is counted (or found to be a duplicate). Jobs that arrive together are written
   * in one transaction — one multi-row dedupe insert, the aggregate rows created, locked and updated in
   * three statements, the counters in one — and each job resolves or fails with it (BullMQ retries a failed
   * one; the dedupe key makes the retry safe). Their raw payloads, when kept, go to S3 as one object first.
   * A job whose payload is the bytes this process decoded at the MQTT side takes that batch (`RecentlyDecodedBatches`).
   * A job whose payload does not decode to the batch it names is counted, dead-lettered and unrecoverable.
   */
  async ingestBatch(job: JobPayload<'predictions.ingest'>): Promise<void> {
    const payload = job.payload !== undefined ? Buffer.from(job.payload, 'base64') : undefined;
    // the bytes this process decoded at the MQTT side: that batch, not a second decode of them
    const known = payload && this.decoded.take(job, payload);
    const decoded = known ? { ok: true as const, value: known } : predictionBatchOfJob(job);
    if (!decoded.ok) {
      await this.invalidJob('predictions.ingest', { deviceId: job.deviceId, epoch: job.epoch, seq: job.seq }, decoded.error.message);
      throw new UnrecoverableError(`predictions.ingest: ${decoded.error.message}`);
    }
    const batch = decoded.value;
    const raw = this.config.rawRetentionHours > 0 ? (payload ?? Buffer.from(JSON.stringify(batch))) : null;
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ batch, receivedAt: job.receivedAt, raw, rawRef: null, resolve, reject });
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

  /** Batches waiting for their raw payloads to be stored. */
  private readonly pending: PendingBatch[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private rawPutsInFlight = 0;
  /** Batches whose raw payloads are stored (or not kept), waiting for the next transaction. */
  private readonly stored: PendingBatch[] = [];
  private writing = false;
  /** The next transaction waits for company until then, unless `MAX_TRANSACTION` batches are waiting. */
  private nextTransactionAt = 0;
  private transactionTimer: NodeJS.Timeout | undefined;

  private schedule(): void {
    if (this.rawPutsInFlight >= RAW_PUTS_IN_FLIGHT) return; // a put that ends starts the next one
    if (this.pending.length >= RAW_GROUP) this.storeRaw();
    else this.flushTimer ??= setTimeout(() => this.storeRaw(), GROUP_WAIT_MS);
  }

  private storeRaw(): void {
    if (this.rawPutsInFlight >= RAW_PUTS_IN_FLIGHT) return;
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const group = this.pending.splice(0, RAW_GROUP);
    if (group.length === 0) return;
    this.rawPutsInFlight++;
    void this.putRaw(group).finally(() => {
      this.rawPutsInFlight--;
      // what arrived while the puts in flight were written has waited long enough: store it now
      if (this.pending.length > 0) setImmediate(() => this.storeRaw());
    });
  }

  private async putRaw(group: PendingBatch[]): Promise<void> {
    try {
      const kept = group.filter((item) => item.raw !== null);
      const refs = await this.predictions.putRawBatches(
        kept.map(({ batch, receivedAt, raw }) => ({ deviceId: batch.deviceId, epoch: batch.epoch ?? '', seq: batch.seq, receivedAt, payload: raw! })),
      );
      kept.forEach((item, i) => (item.rawRef = refs[i]!));
    } catch (err) {
      this.logger.warn(`storing the raw payloads of ${group.length} batch(es) failed; each will be retried: ${(err as Error).message}`);
      for (const item of group) item.reject(err);
      return;
    }
    this.stored.push(...group);
    this.writeStored();
  }

  private writeStored(): void {
    if (this.writing || this.stored.length === 0) return;
    if (this.stored.length < MAX_TRANSACTION && performance.now() < this.nextTransactionAt) {
      this.transactionTimer ??= setTimeout(() => {
        this.transactionTimer = undefined;
        this.writeStored();
      }, this.nextTransactionAt - performance.now());
      return;
    }
    clearTimeout(this.transactionTimer);
    this.transactionTimer = undefined;
    this.writing = true;
    const group = this.stored.splice(0, MAX_TRANSACTION);
    const started = performance.now();
    void this.writeGroup(group).finally(() => {
      const ended = performance.now();
      this.nextTransactionAt = ended + Math.min(TRANSACTION_SPACING * (ended - started), MAX_TRANSACTION_WAIT_MS);
      this.writing = false;
      this.writeStored();
    });
  }

  private async writeGroup(group: PendingBatch[]): Promise<void> {
    try {
      await this.db.transaction(async (tx) => {
        const fresh = await this.predictions.recordBatches(
          tx,
          group.map((item) => ({ batch: item.batch, receivedAt: new Date(item.receivedAt), rawRef: item.rawRef })),
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
      });
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
