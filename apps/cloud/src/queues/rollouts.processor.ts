import { Logger, OnApplicationBootstrap } from '@nestjs/common';
import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { QUEUES } from '@edgeloop/contracts';
import type { Job } from 'bullmq';
import { RolloutService } from '../services/rollout.service';
import { DEFERRED_WORKER, dispatchJob, startWorker } from './bull';

/** The `rollouts` queue's worker (worker replicas only), four jobs at a time: ticks, and rollbacks asked for as jobs. */
@Processor(QUEUES.rollouts, DEFERRED_WORKER)
export class RolloutsProcessor extends WorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger(RolloutsProcessor.name);

  constructor(private readonly rollouts: RolloutService) {
    super();
  }

  async onApplicationBootstrap(): Promise<void> {
    await startWorker(this.worker, 4);
  }

  process(job: Job): Promise<unknown> {
    return dispatchJob(QUEUES.rollouts, job, {
      'rollouts.advance': ({ deploymentId }) => this.rollouts.advance(deploymentId),
      'rollouts.rollback': ({ deploymentId, reason }) => this.rollouts.rollback(deploymentId, reason, null),
    });
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job | undefined, err: Error): void {
    this.logger.warn(`${job?.name} ${JSON.stringify(job?.data)} failed: ${err.message}`);
  }

  @OnWorkerEvent('error')
  onError(err: Error): void {
    this.logger.warn(`worker: ${err.message}`);
  }
}
