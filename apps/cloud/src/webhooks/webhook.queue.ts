import { BeforeApplicationShutdown, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { BULLMQ_PREFIX, parseJob, QUEUES, type JobName } from '@edgeloop/contracts';
import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { CloudConfig } from '../config/cloud.config';
import { webhookBackoffMs } from './webhook-backoff';

/** How one attempt of a delivery ended, as the delivery service reports it to the queue. */
export type AttemptOutcome =
  | { kind: 'delivered' }
  | { kind: 'retry'; delayMs: number; reason: string }
  | { kind: 'failed'; reason: string }
  | { kind: 'skipped'; reason: string };

export type AttemptHandler = (deliveryId: string, attempt: { number: number; last: boolean }) => Promise<AttemptOutcome>;

const DELIVER: JobName = 'webhooks.deliver';
const BACKOFF_TYPE = 'webhook-jitter';

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

/** BullMQ job id of a delivery: one job per delivery, however often it is enqueued. */
export function deliveryJobId(deliveryId: string): string {
  return `delivery-${deliveryId}`;
}

/**
 * The `webhooks` BullMQ queue: one `webhooks.deliver` job per delivery, retried by BullMQ
 * (`attempts` = EDGELOOP_WEBHOOK_MAX_ATTEMPTS) with a custom back-off strategy whose wait is the one
 * the delivery service chose and logged. Retries live in Redis, so they survive a cloud restart, and
 * any replica's worker may run an attempt.
 */
@Injectable()
export class WebhookQueue implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(WebhookQueue.name);
  private queue: Queue | undefined;
  private worker: Worker | undefined;

  constructor(private readonly config: CloudConfig) {}

  /** The producer side opens early, so that services may emit from their own bootstrap hooks. */
  onModuleInit(): void {
    this.queue = new Queue(QUEUES.webhooks, { connection: this.connection(), prefix: BULLMQ_PREFIX });
    this.queue.on('error', (err) => this.logger.warn(`queue: ${err.message}`));
  }

  async startWorker(handler: AttemptHandler, onExhausted: (deliveryId: string, reason: string) => Promise<void>): Promise<void> {
    const { backoffMs } = this.config.webhooks;
    this.worker = new Worker(QUEUES.webhooks, (job) => this.process(job, handler), {
      connection: this.connection(),
      prefix: BULLMQ_PREFIX,
      concurrency: 8,
      settings: {
        backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) =>
          err instanceof RetryLaterError ? err.delayMs : webhookBackoffMs(attemptsMade, backoffMs),
      },
    });
    this.worker.on('error', (err) => this.logger.warn(`worker: ${err.message}`));
    this.worker.on('failed', (job, err) => {
      if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
      const deliveryId = (job.data as { deliveryId?: unknown }).deliveryId;
      if (typeof deliveryId === 'string') {
        onExhausted(deliveryId, err.message).catch((e: Error) => this.logger.error(`delivery ${deliveryId}: could not mark it failed: ${e.message}`));
      }
    });
    await this.queue!.waitUntilReady();
    await this.worker.waitUntilReady();
  }

  /** Adds one job per delivery; a delivery that already has a job is not added twice. */
  async enqueue(deliveryIds: string[]): Promise<void> {
    if (deliveryIds.length === 0) return;
    await this.queue!.addBulk(
      deliveryIds.map((deliveryId) => ({
        name: DELIVER,
        data: { deliveryId },
        opts: {
          jobId: deliveryJobId(deliveryId),
          attempts: this.config.webhooks.maxAttempts,
          backoff: { type: BACKOFF_TYPE },
          removeOnComplete: { age: 24 * 3600, count: 1000 },
          removeOnFail: { age: 7 * 24 * 3600, count: 5000 },
        },
      })),
    );
  }

  async ping(): Promise<void> {
    await this.queue!.getJobCounts('active');
  }

  async beforeApplicationShutdown(): Promise<void> {
    // a connection that died with Redis must not fail the shutdown of everything else
    await this.worker?.close().catch((err: Error) => this.logger.warn(`closing the worker: ${err.message}`));
    await this.queue?.close().catch((err: Error) => this.logger.warn(`closing the queue: ${err.message}`));
  }

  private async process(job: Job, handler: AttemptHandler): Promise<void> {
    const parsed = parseJob(job.name, job.data);
    if (!parsed.ok) throw new UnrecoverableError(`${job.name}: ${parsed.error.message}`);
    if (parsed.value.name !== DELIVER) throw new UnrecoverableError(`unexpected job ${job.name} on the ${QUEUES.webhooks} queue`);
    const { deliveryId } = parsed.value.payload as { deliveryId: string };
    const attempt = { number: job.attemptsMade + 1, last: job.attemptsMade + 1 >= (job.opts.attempts ?? 1) };
    const started = performance.now();
    this.logger.debug(`delivery ${deliveryId}: attempt ${attempt.number} started`);
    const outcome = await handler(deliveryId, attempt);
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

  private connection() {
    return { url: this.config.redisUrl!, maxRetriesPerRequest: null };
  }
}
