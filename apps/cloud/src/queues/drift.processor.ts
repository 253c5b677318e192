import { Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { QUEUES } from '@edgeloop/contracts';
import type { Job } from 'bullmq';
import { DriftService } from '../services/drift.service';
import { DEFERRED_WORKER, dispatchJob, startWorker } from './bull';

/**
 * The `drift` queue's worker (worker replicas only), one job at a time: the scheduled sweep and on-demand checks.
 * It stops in `onModuleDestroy` — the first shutdown hook, before any `beforeApplicationShutdown` or
 * `onApplicationShutdown` (where the SQL pool closes) — and waits there for the sweep in progress, so no sweep
 * runs on a closed pool whatever order the modules' shutdown hooks run in.
 */
@Processor(QUEUES.drift, DEFERRED_WORKER)
export class DriftProcessor extends WorkerHost implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(DriftProcessor.name);

  constructor(private readonly drift: DriftService) {
    super();
  }

  async onApplicationBootstrap(): Promise<void> {
    await startWorker(this.worker, 1);
  }

  async onModuleDestroy(): Promise<void> {
    await this.worker.close();
  }

  process(job: Job): Promise<unknown> {
    return dispatchJob(QUEUES.drift, job, {
      'drift.sweep': async () => void (await this.drift.sweep()),
      'drift.check': async ({ modelName, version }) => void (await this.drift.check({ name: modelName, version })),
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
