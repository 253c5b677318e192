import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import { QUEUES } from '@edgeloop/contracts';
import type { Queue } from 'bullmq';
import { CloudConfig } from '../config/cloud.config';

const RETENTION_SCHEDULER = 'retention-sweep';

/**
 * The `maintenance` queue's schedule, kept on every replica: a job scheduler runs `maintenance.retention`
 * every EDGELOOP_RETENTION_SWEEP_SECONDS, one run at a time across replicas (BullMQ hands each scheduled job
 * to one worker; `MaintenanceProcessor` runs them one at a time).
 */
@Injectable()
export class MaintenanceQueue implements OnApplicationBootstrap {
  constructor(
    private readonly config: CloudConfig,
    @InjectQueue(QUEUES.maintenance) private readonly queue: Queue,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.queue.upsertJobScheduler(
      RETENTION_SCHEDULER,
      { every: this.config.quotas.retentionSweepSeconds * 1000 },
      { name: 'maintenance.retention', data: {}, opts: { removeOnComplete: 50, removeOnFail: 50 } },
    );
  }
}
