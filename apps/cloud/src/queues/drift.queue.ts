import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { BULLMQ_PREFIX, parseJob, QUEUES } from '@edgeloop/contracts';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { CloudConfig } from '../config/cloud.config';

const SWEEP_SCHEDULER = 'drift-sweep';

/**
 * The `drift` queue: a job scheduler runs `drift.sweep` every EDGELOOP_DRIFT_CHECK_SECONDS (one run at a
 * time across replicas, since BullMQ hands each scheduled job to one worker); `drift.check` jobs check one
 * model version on demand.
 */
@Injectable()
export class DriftQueue implements OnApplicationShutdown {
  private readonly logger = new Logger(DriftQueue.name);
  private queue: Queue | undefined;
  private worker: Worker | undefined;

  constructor(private readonly config: CloudConfig) {}

  async start(handlers: { sweep(): Promise<void>; check(model: { name: string; version: number }): Promise<void> }): Promise<void> {
    const connection = { url: this.config.redisUrl!, maxRetriesPerRequest: null };
    this.queue = new Queue(QUEUES.drift, { connection, prefix: BULLMQ_PREFIX });
    this.queue.on('error', (err) => this.logger.warn(`queue: ${err.message}`));
    await this.queue.upsertJobScheduler(
      SWEEP_SCHEDULER,
      { every: this.config.driftCheckSeconds * 1000 },
      { name: 'drift.sweep', data: {}, opts: { removeOnComplete: 50, removeOnFail: 50 } },
    );
    if (!this.config.workers) return;
    this.worker = new Worker(
      QUEUES.drift,
      async (job) => {
        const parsed = parseJob(job.name, job.data);
        if (!parsed.ok) throw new UnrecoverableError(`${job.name}: ${parsed.error.message}`);
        if (parsed.value.name === 'drift.sweep') await handlers.sweep();
        else if (parsed.value.name === 'drift.check') {
          const payload = parsed.value.payload as { modelName: string; version: number };
          await handlers.check({ name: payload.modelName, version: payload.version });
        } else throw new UnrecoverableError(`unexpected job ${job.name} on the drift queue`);
      },
      { connection, prefix: BULLMQ_PREFIX, concurrency: 1 },
    );
    this.worker.on('error', (err) => this.logger.warn(`worker: ${err.message}`));
    this.worker.on('failed', (job, err) => this.logger.warn(`${job?.name} failed: ${err.message}`));
    await this.worker.waitUntilReady();
  }

  async onApplicationShutdown(): Promise<void> {
    // a connection that died with Redis must not fail the shutdown of everything else
    await this.worker?.close().catch((err: Error) => this.logger.warn(`closing the worker: ${err.message}`));
    await this.queue?.close().catch((err: Error) => this.logger.warn(`closing the queue: ${err.message}`));
  }
}
