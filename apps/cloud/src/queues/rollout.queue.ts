import { Injectable } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import { QUEUES } from '@edgeloop/contracts';
import type { Queue } from 'bullmq';
import { CloudConfig } from '../config/cloud.config';

/**
 * The producer side of the `rollouts` queue: each deployment in progress has a job scheduler that ticks
 * `rollouts.advance` every EDGELOOP_ROLLOUT_TICK_MS. Schedulers live in Redis, so a rollout carries on after
 * a cloud restart; API-only replicas schedule, and any worker replica's `RolloutsProcessor` may take the
 * tick (the SQL row lock serialises them).
 */
@Injectable()
export class RolloutQueue {
  constructor(
    private readonly config: CloudConfig,
    @InjectQueue(QUEUES.rollouts) private readonly queue: Queue,
  ) {}

  async schedule(deploymentId: string): Promise<void> {
    await this.queue.upsertJobScheduler(
      schedulerId(deploymentId),
      { every: this.config.rolloutTickMs },
      { name: 'rollouts.advance', data: { deploymentId }, opts: { removeOnComplete: 100, removeOnFail: 100 } },
    );
  }

  async unschedule(deploymentId: string): Promise<void> {
    await this.queue.removeJobScheduler(schedulerId(deploymentId));
  }

  async ping(): Promise<void> {
    await this.queue.getJobCounts('active');
  }
}

function schedulerId(deploymentId: string): string {
  return `rollout-${deploymentId}`;
}
