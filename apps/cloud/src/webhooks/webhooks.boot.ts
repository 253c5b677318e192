import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { CloudConfig } from '../config/cloud.config';
import { HealthService } from '../services/health.service';
import { WebhookDeliveryService } from './webhook-delivery.service';
import { WebhookPublisher } from './webhook-publisher';
import { WebhookQueue } from './webhook.queue';

/** How often every pending delivery is checked to have a job (after a failed enqueue or a Redis that lost its data). */
export const WEBHOOK_SWEEP_MS = 5 * 60 * 1000;

/**
 * Starts the delivery worker, re-enqueues pending deliveries, and keeps sweeping for ones without a job.
 * An API-only replica (EDGELOOP_WORKERS=false) only enqueues: the worker replicas send.
 */
@Injectable()
export class WebhooksBoot implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(WebhooksBoot.name);
  private sweep: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: CloudConfig,
    private readonly queue: WebhookQueue,
    private readonly delivery: WebhookDeliveryService,
    private readonly publisher: WebhookPublisher,
    private readonly health: HealthService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.health.register('webhooks', () => this.queue.ping());
    if (!this.config.workers) {
      this.logger.log('webhook deliveries are enqueued here and sent by the worker replicas (EDGELOOP_WORKERS=false)');
      return;
    }
    await this.queue.startWorker(
      (deliveryId, attempt) => this.delivery.attempt(deliveryId, attempt),
      (deliveryId, reason) => this.delivery.exhausted(deliveryId, reason),
    );
    const pending = await this.publisher.requeuePending();
    this.sweep = setInterval(() => {
      this.publisher.requeuePending().catch((err: Error) => this.logger.warn(`sweep of pending deliveries: ${err.message}`));
    }, WEBHOOK_SWEEP_MS);
    this.sweep.unref();
    this.logger.log(`webhook deliveries ready${pending ? ` (${pending} pending re-enqueued)` : ''}`);
  }

  beforeApplicationShutdown(): void {
    clearInterval(this.sweep);
  }
}
