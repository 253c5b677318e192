import { Injectable, Logger } from '@nestjs/common';
import type { DecodedDeviceMessage, JobPayload, PredictionBatch } from '@edgeloop/contracts';
import { accumulateBatch, accumulateFrame, createWindowStats, type WindowStats } from '@edgeloop/drift';
import { CloudConfig } from '../config/cloud.config';
import { SqlDatabase } from '../database/sql-database';
import { PredictionsQueue } from '../queues/predictions.queue';
import { DeadLetterRepository } from '../repositories/dead-letter.repository';
import { PredictionRepository } from '../repositories/prediction.repository';
import { HardExampleService } from './hard-example.service';

/**
 * Prediction ingest: MQTT batches and hard examples go into the `predictions` queue (the PUBACK waits
 * until the job is in Redis); workers drop duplicates by (device, seq) and add each batch to its
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
    if (message.kind === 'predictions') await this.queue.addBatch(message.message, receivedAt.getTime());
    else if (message.kind === 'hard-examples') await this.queue.addHardExample(message.message, receivedAt.getTime());
  }

  async ingestBatch(job: JobPayload<'predictions.ingest'>): Promise<void> {
    const { batch } = job;
    const keepRaw = this.config.rawRetentionHours > 0;
    const fresh = await this.db.transaction(async (tx) => {
      if (!(await this.predictions.recordBatch(tx, batch, new Date(job.receivedAt), keepRaw))) {
        await this.predictions.incrementCounter('batches_duplicate', 1, tx);
        return false;
      }
      for (const [bucketStart, stats] of this.bucketed(batch)) {
        await this.predictions.mergeAggregate(tx, { deviceId: batch.deviceId, model: batch.model, bucketStart: new Date(bucketStart) }, stats);
      }
      await this.predictions.incrementCounter('batches', 1, tx);
      await this.predictions.incrementCounter('frames', batch.items.length, tx);
      return true;
    });
    if (!fresh) this.logger.debug(`duplicate batch ${batch.deviceId}#${batch.seq} ignored`);
  }

  async ingestHardExample(job: JobPayload<'predictions.hard-example'>): Promise<void> {
    const stored = await this.hardExamples.store(job.hardExample, new Date(job.receivedAt));
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
