import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import { QUEUES } from '@edgeloop/contracts';
import type { Queue } from 'bullmq';
import { CloudConfig } from '../config/cloud.config';

const SWEEP_SCHEDULER = 'drift-sweep';

/**
 * The `drift` queue's schedule, kept on every replica: a job scheduler runs `drift.sweep` every
 * EDGELOOP_DRIFT_CHECK_SECONDS (one run at a time across replicas, since BullMQ hands each scheduled job to
 * one worker; `DriftProcessor` runs it). `drift.check` jobs check one model version on demand.
 */
@Injectable()
export class DriftQueue implements OnApplicationBootstrap {
  constructor(
    private readonly config: CloudConfig,
    @InjectQueue(QUEUES.drift) private readonly queue: Queue,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.queue.upsertJobScheduler(
      SWEEP_SCHEDULER,
      { every: this.config.driftCheckSeconds * 1000 },
      { name: 'drift.sweep', data: {}, opts: { removeOnComplete: 50, removeOnFail: 50 } },
    );
  }
}
