import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import {
  BULLMQ_PREFIX,
  hardExampleJobId,
  parseJob,
  predictionsJobId,
  QUEUES,
  type HardExample,
  type JobPayload,
  type PredictionBatch,
} from '@edgeloop/contracts';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { CloudConfig } from '../config/cloud.config';

export interface PredictionHandlers {
  batch(job: JobPayload<'predictions.ingest'>): Promise<void>;
  hardExample(job: JobPayload<'predictions.hard-example'>): Promise<void>;
  /** An invalid job: counted and dead-lettered by the caller, never retried. */
  invalid(name: string, data: unknown, message: string): Promise<void>;
}

/**
 * The `predictions` BullMQ queue: MQTT batches and hard examples become jobs (id = device + seq, so a
 * redelivered message is one job), and ingest workers — in this process or in separate worker replicas —
 * validate and aggregate them.
 */
@Injectable()
export class PredictionsQueue implements OnApplicationShutdown {
  private readonly logger = new Logger(PredictionsQueue.name);
  private queue: Queue | undefined;
  private worker: Worker | undefined;

  constructor(private readonly config: CloudConfig) {}

  private get connection() {
    return { url: this.config.redisUrl!, maxRetriesPerRequest: null, enableOfflineQueue: true };
  }

  async open(): Promise<void> {
    this.queue = new Queue(QUEUES.predictions, { connection: this.connection, prefix: BULLMQ_PREFIX });
    this.queue.on('error', (err) => this.logger.warn(`queue: ${err.message}`));
    await this.queue.waitUntilReady();
  }

  async startWorker(handlers: PredictionHandlers, concurrency: number): Promise<void> {
    this.worker = new Worker(
      QUEUES.predictions,
      async (job: Job) => {
        const parsed = parseJob(job.name, job.data);
        if (!parsed.ok) {
          await handlers.invalid(job.name, job.data, parsed.error.message);
          throw new UnrecoverableError(`${job.name}: ${parsed.error.message}`);
        }
        if (parsed.value.name === 'predictions.ingest') await handlers.batch(parsed.value.payload as JobPayload<'predictions.ingest'>);
        else if (parsed.value.name === 'predictions.hard-example') await handlers.hardExample(parsed.value.payload as JobPayload<'predictions.hard-example'>);
        else {
          await handlers.invalid(job.name, job.data, 'not a predictions job');
          throw new UnrecoverableError(`unexpected job ${job.name} on the predictions queue`);
        }
      },
      { connection: this.connection, prefix: BULLMQ_PREFIX, concurrency },
    );
    this.worker.on('error', (err) => this.logger.warn(`worker: ${err.message}`));
    this.worker.on('failed', (job, err) => {
      if (!(err instanceof UnrecoverableError)) this.logger.warn(`${job?.id} failed (attempt ${job?.attemptsMade}): ${err.message}`);
    });
    await this.worker.waitUntilReady();
  }

  /** Resolves once the batch is in Redis (it waits out a Redis restart); the MQTT PUBACK follows. */
  async addBatch(batch: PredictionBatch, receivedAt: number): Promise<void> {
    await this.queue!.add(
      'predictions.ingest',
      { deviceId: batch.deviceId, seq: batch.seq, receivedAt, batch },
      { jobId: predictionsJobId(batch.deviceId, batch.seq, batch.epoch), attempts: 10, backoff: { type: 'exponential', delay: 500 }, removeOnComplete: { age: 600, count: 20_000 }, removeOnFail: { age: 86_400 } },
    );
  }

  async addHardExample(hardExample: HardExample, receivedAt: number): Promise<void> {
    await this.queue!.add(
      'predictions.hard-example',
      { deviceId: hardExample.deviceId, receivedAt, hardExample },
      { jobId: hardExampleJobId(hardExample.deviceId, hardExample.id), attempts: 10, backoff: { type: 'exponential', delay: 500 }, removeOnComplete: { age: 600 }, removeOnFail: { age: 86_400 } },
    );
  }

  /** For tests and benchmarks: enqueue anything, valid or not. */
  async addRaw(name: string, data: unknown): Promise<void> {
    await this.queue!.add(name, data, { removeOnComplete: true, removeOnFail: { age: 3600 } });
  }

  async counts(): Promise<Record<string, number>> {
    return this.queue!.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed');
  }

  async onApplicationShutdown(): Promise<void> {
    // a connection that died with Redis must not fail the shutdown of everything else
    await this.worker?.close().catch((err: Error) => this.logger.warn(`closing the worker: ${err.message}`));
    await this.queue?.close().catch((err: Error) => this.logger.warn(`closing the queue: ${err.message}`));
  }
}
