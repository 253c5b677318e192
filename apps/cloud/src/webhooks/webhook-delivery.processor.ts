import { BeforeApplicationShutdown, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { QUEUES } from '@edgeloop/contracts';
import { UnrecoverableError, type Job } from 'bullmq';
import { CloudConfig } from '../config/cloud.config';
import { DEFERRED_WORKER, dispatchJob, startWorker } from '../queues/bull';
import { webhookBackoffMs } from './webhook-backoff';
import { WebhookDeliveryService } from './webhook-delivery.service';
import { WebhookPublisher } from './webhook-publisher';

/** How often every pending delivery is checked to have a job (after a failed enqueue or a Redis that lost its data). */
export const WEBHOOK_SWEEP_MS = 5 * 60 * 1000;

/** Thrown for a failed attempt that will be retried: carries the wait the delivery log already shows. */
class RetryLaterError extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
    this.name = 'RetryLaterError';
  }
}

/**
 * The `webhooks` queue's worker (worker replicas only), eight attempts at a time. Each attempt asks
 * `WebhookDeliveryService`; a retry waits what the service chose and logged (the back-off strategy below
 * reads it from the error), a final failure marks the delivery failed. At start, and every five minutes,
 * pending deliveries without a job are enqueued again.
 */
@Processor(QUEUES.webhooks, {
  ...DEFERRED_WORKER,
  settings: { backoffStrategy: (_attemptsMade: number, _type?: string, err?: Error) => (err instanceof RetryLaterError ? err.delayMs : 1000) },
})
export class WebhookDeliveryProcessor extends WorkerHost implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(WebhookDeliveryProcessor.name);
  private sweep: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: CloudConfig,
    private readonly delivery: WebhookDeliveryService,
    private readonly publisher: WebhookPublisher,
  ) {
    super();
  }

  async onApplicationBootstrap(): Promise<void> {
    await startWorker(this.worker, 8);
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

  process(job: Job): Promise<unknown> {
    return dispatchJob(QUEUES.webhooks, job, {
      'webhooks.deliver': ({ deliveryId }) => this.attempt(job, deliveryId),
    });
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job | undefined, err: Error): void {
    if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
    const deliveryId = (job.data as { deliveryId?: unknown }).deliveryId;
    if (typeof deliveryId === 'string') {
      this.delivery.exhausted(deliveryId, err.message).catch((e: Error) => this.logger.error(`delivery ${deliveryId}: could not mark it failed: ${e.message}`));
    }
  }

  @OnWorkerEvent('error')
  onError(err: Error): void {
    this.logger.warn(`worker: ${err.message}`);
  }

  private async attempt(job: Job, deliveryId: string): Promise<void> {
    const attempt = { number: job.attemptsMade + 1, last: job.attemptsMade + 1 >= (job.opts.attempts ?? 1) };
    const started = performance.now();
    this.logger.debug(`delivery ${deliveryId}: attempt ${attempt.number} started`);
    let outcome;
    try {
      outcome = await this.delivery.attempt(deliveryId, attempt);
    } catch (err) {
      // not an answer of the receiver (SQL unreachable, …): retried on the usual schedule
      throw new RetryLaterError((err as Error).message, webhookBackoffMs(attempt.number, this.config.webhooks.backoffMs));
    }
    const took = `${Math.round(performance.now() - started)} ms`;
    switch (outcome.kind) {
      case 'delivered':
        this.logger.debug(`delivery ${deliveryId}: attempt ${attempt.number} delivered in ${took}`);
        return;
      case 'skipped':
        this.logger.debug(`delivery ${deliveryId}: skipped (${outcome.reason})`);
        return;
      case 'retry':
        this.logger.debug(`delivery ${deliveryId}: attempt ${attempt.number} failed in ${took} (${outcome.reason}); next in ${outcome.delayMs} ms`);
        throw new RetryLaterError(outcome.reason, outcome.delayMs);
      case 'failed':
        this.logger.warn(`delivery ${deliveryId}: failed after ${attempt.number} attempts (${outcome.reason})`);
        throw new UnrecoverableError(outcome.reason);
    }
  }
}
