import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { BULLMQ_PREFIX, parseJob, QUEUES } from '@edgeloop/contracts';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { CloudConfig } from '../config/cloud.config';

type AdvanceHandler = (deploymentId: string) => Promise<void>;

/**
 * The `rollouts` BullMQ queue: each deployment in progress has a job scheduler that ticks
 * `rollouts.advance` every EDGELOOP_ROLLOUT_TICK_MS; schedulers live in Redis, so a rollout carries on
 * after a cloud restart, and any replica's worker may take the tick (the SQL row lock serialises them).
 */
@Injectable()
export class RolloutQueue implements OnApplicationShutdown {
  private readonly logger = new Logger(RolloutQueue.name);
  private queue: Queue | undefined;
  private worker: Worker | undefined;

  constructor(private readonly config: CloudConfig) {}

  async start(handler: AdvanceHandler): Promise<void> {
    const connection = { url: this.config.redisUrl!, maxRetriesPerRequest: null };
    this.queue = new Queue(QUEUES.rollouts, { connection, prefix: BULLMQ_PREFIX });
    this.queue.on('error', (err) => this.logger.warn(`queue: ${err.message}`));
    await this.queue.waitUntilReady();
    // API-only replicas (EDGELOOP_WORKERS=false) schedule rollout ticks; worker replicas run them
    if (!this.config.workers) return;
    this.worker = new Worker(
      QUEUES.rollouts,
      async (job) => {
        const parsed = parseJob(job.name, job.data);
        if (!parsed.ok) throw new UnrecoverableError(`${job.name}: ${parsed.error.message}`);
        if (parsed.value.name !== 'rollouts.advance') throw new UnrecoverableError(`unexpected job ${job.name} on the rollouts queue`);
        await handler((parsed.value.payload as { deploymentId: string }).deploymentId);
      },
      { connection, prefix: BULLMQ_PREFIX, concurrency: 4 },
    );
    this.worker.on('error', (err) => this.logger.warn(`worker: ${err.message}`));
    this.worker.on('failed', (job, err) => this.logger.warn(`${job?.name} ${JSON.stringify(job?.data)} failed: ${err.message}`));
    await this.worker.waitUntilReady();
  }

  async schedule(deploymentId: string): Promise<void> {
    await this.queue!.upsertJobScheduler(
      schedulerId(deploymentId),
      { every: this.config.rolloutTickMs },
      { name: 'rollouts.advance', data: { deploymentId }, opts: { removeOnComplete: 100, removeOnFail: 100 } },
    );
  }

  async unschedule(deploymentId: string): Promise<void> {
    await this.queue?.removeJobScheduler(schedulerId(deploymentId));
  }

  async ping(): Promise<void> {
    await this.queue!.getJobCounts('active');
  }

  async onApplicationShutdown(): Promise<void> {
    // a connection that died with Redis must not fail the shutdown of everything else
    await this.worker?.close().catch((err: Error) => this.logger.warn(`closing the worker: ${err.message}`));
    await this.queue?.close().catch((err: Error) => this.logger.warn(`closing the queue: ${err.message}`));
  }
}

function schedulerId(deploymentId: string): string {
  return `rollout-${deploymentId}`;
}
