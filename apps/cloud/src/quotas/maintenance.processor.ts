import { Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { QUEUES } from '@edgeloop/contracts';
import type { Job } from 'bullmq';
import { DEFERRED_WORKER, dispatchJob, startWorker } from '../queues/bull';
import { SqlDatabase } from '../database/sql-database';
import { RetentionService } from './retention.service';

/**
 * The `maintenance` queue's worker (worker replicas only), one job at a time: the scheduled retention sweep
 * and, on PGlite, the vacuum its single-user PostgreSQL does not run by itself.
 * Like the drift worker it stops in `onModuleDestroy`, the first shutdown hook, and waits there for the sweep
 * in progress, so no sweep runs on the SQL pool closed in `onApplicationShutdown`.
 */
@Processor(QUEUES.maintenance, DEFERRED_WORKER)
export class MaintenanceProcessor extends WorkerHost implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(MaintenanceProcessor.name);

  constructor(
    private readonly retention: RetentionService,
    private readonly db: SqlDatabase,
  ) {
    super();
  }

  async onApplicationBootstrap(): Promise<void> {
    await startWorker(this.worker, 1);
  }

  async onModuleDestroy(): Promise<void> {
    await this.worker.close();
  }

  process(job: Job): Promise<unknown> {
    return dispatchJob(QUEUES.maintenance, job, {
      'maintenance.retention': () => this.retention.sweep(),
      'maintenance.sql-vacuum': async () => {
        const ms = await this.db.maintainEmbedded();
        if (ms !== undefined && ms > 1000) this.logger.warn(`embedded SQL vacuum + checkpoint took ${ms} ms`);
        return { ms };
      },
    });
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job | undefined, err: Error): void {
    this.logger.warn(`${job?.name} failed: ${err.message}`);
  }

  @OnWorkerEvent('error')
  onError(err: Error): void {
    this.logger.warn(`worker: ${err.message}`);
  }
}
