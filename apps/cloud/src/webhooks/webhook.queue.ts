import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import { QUEUES, type JobName } from '@edgeloop/contracts';
import type { Queue } from 'bullmq';
import { CloudConfig } from '../config/cloud.config';
import { HealthService } from '../services/health.service';

/** How one attempt of a delivery ended, as the delivery service reports it to the queue. */
export type AttemptOutcome =
  | { kind: 'delivered' }
  | { kind: 'retry'; delayMs: number; reason: string }
  | { kind: 'failed'; reason: string }
  | { kind: 'skipped'; reason: string };

const DELIVER: JobName = 'webhooks.deliver';
/** The back-off type of every delivery job: the wait `WebhookDeliveryProcessor` chose and logged. */
export const WEBHOOK_BACKOFF_TYPE = 'webhook-jitter';

/** BullMQ job id of a delivery: one job per delivery, however often it is enqueued. */
export function deliveryJobId(deliveryId: string): string {
  return `delivery-${deliveryId}`;
}

/**
 * The producer side of the `webhooks` queue: one `webhooks.deliver` job per delivery, retried by BullMQ
 * (`attempts` = EDGELOOP_WEBHOOK_MAX_ATTEMPTS) with the wait the delivery service chose and logged. Retries
 * live in Redis, so they survive a cloud restart, and any worker replica's `WebhookDeliveryProcessor` may
 * run an attempt.
 */
@Injectable()
export class WebhookQueue implements OnModuleInit {
  constructor(
    private readonly config: CloudConfig,
    private readonly health: HealthService,
    @InjectQueue(QUEUES.webhooks) private readonly queue: Queue,
  ) {}

  onModuleInit(): void {
    this.health.register('webhooks', () => this.ping());
  }

  /** Adds one job per delivery; a delivery that already has a job is not added twice. */
  async enqueue(deliveryIds: string[]): Promise<void> {
    if (deliveryIds.length === 0) return;
    await this.queue.addBulk(
      deliveryIds.map((deliveryId) => ({
        name: DELIVER,
        data: { deliveryId },
        opts: {
          jobId: deliveryJobId(deliveryId),
          attempts: this.config.webhooks.maxAttempts,
          backoff: { type: WEBHOOK_BACKOFF_TYPE },
          removeOnComplete: { age: 24 * 3600, count: 1000 },
          removeOnFail: { age: 7 * 24 * 3600, count: 5000 },
        },
      })),
    );
  }

  async ping(): Promise<void> {
    await this.queue.getJobCounts('active');
  }
}
