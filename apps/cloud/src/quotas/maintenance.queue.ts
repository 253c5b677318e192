import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { BULLMQ_PREFIX, parseJob, QUEUES } from '@edgeloop/contracts';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { CloudConfig } from '../config/cloud.config';
import { RetentionService } from './retention.service';

const RETENTION_SCHEDULER = 'retention-sweep';

/**
 * The `maintenance` queue: a job scheduler runs `maintenance.retention` every
 * EDGELOOP_RETENTION_SWEEP_SECONDS, one run at a time across replicas (BullMQ hands each scheduled job
 * to one worker; concurrency 1).
 */
@Injectable()
export class MaintenanceQueue implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(MaintenanceQueue.name);
  private queue: Queue | undefined;
  private worker: Worker | undefined;

  constructor(
    private readonly config: CloudConfig,
    private readonly retention: RetentionService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const connection = { url: this.config.redisUrl!, maxRetriesPerRequest: null };
    this.queue = new Queue(QUEUES.maintenance, { connection, prefix: BULLMQ_PREFIX });
    this.queue.on('error', (err) => this.logger.warn(`queue: ${err.message}`));
    await this.queue.upsertJobScheduler(
      RETENTION_SCHEDULER,
      { every: this.config.quotas.retentionSweepSeconds * 1000 },
      { name: 'maintenance.retention', data: {}, opts: { removeOnComplete: 50, removeOnFail: 50 } },
    );
    if (!this.config.workers) return;
    this.worker = new Worker(
      QUEUES.maintenance,
      async (job) => {
        const parsed = parseJob(job.name, job.data);
        if (!parsed.ok) throw new UnrecoverableError(`${job.name}: ${parsed.error.message}`);
        if (parsed.value.name !== 'maintenance.retention') throw new UnrecoverableError(`unexpected job ${job.name} on the maintenance queue`);
        return this.retention.sweep();
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
