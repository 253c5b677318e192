import { Injectable, Logger, OnApplicationShutdown, type DynamicModule } from '@nestjs/common';
import { BullModule } from '@nestjs/bullmq';
import { parseJob, type JobHandlers, type QueueName } from '@edgeloop/contracts';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { CloudConfig } from '../config/cloud.config';
import { createBullmqConnection, type BullmqConnection } from './bullmq-connection';

const logger = new Logger('Queues');

/**
 * A queue whose `close()` logs instead of throwing: a connection that died with Redis must not fail the
 * shutdown of everything else (@nestjs/bullmq closes every registered queue in its shutdown hook).
 */
export class TolerantQueue extends Queue {
  constructor(...args: ConstructorParameters<typeof Queue>) {
    super(...args);
    // a connection error is logged once per event (Redis down, restarting), never an unhandled 'error'
    this.on('error', (err: Error) => logger.warn(`${this.name} queue: ${err.message}`));
  }

  override async close(): Promise<void> {
    await super.close().catch((err: Error) => logger.warn(`closing the ${this.name} queue: ${err.message}`));
  }
}

/** How long a closing worker waits for its blocking Redis connection to come back from a reconnect. */
export const BLOCKING_RECONNECT_WAIT_MS = 5000;

/** The ioredis client of a worker's blocking connection (BullMQ 6 internals: `backend.blockingConnection._client`). */
type BlockingClient = { status: string; once(event: 'ready', listener: () => void): unknown; off(event: 'ready', listener: () => void): unknown };

/**
 * A worker whose `close()` logs instead of throwing, for the same reason, and that cannot hang on a blocking
 * connection caught between two reconnect attempts. A graceful close interrupts the blocking read by
 * disconnecting that connection and waiting for its `end` event; ioredis emits none for a client that is
 * `reconnecting` (no socket: disconnecting only cancels its retry timer), so `close()` never resolved (BullMQ
 * issue #4656). After a Redis outage a worker's blocking connection can be `reconnecting` while every other
 * connection is back — a cloud that restarted then hung in its shutdown (health-live.int.ts, 2 of 23 runs). So
 * a close waits up to BLOCKING_RECONNECT_WAIT_MS for that connection to be ready again, and if it is not, closes
 * without waiting for running jobs (there is no blocking read to interrupt; a job left active is picked up again
 * by the stalled-job check, and every processor is idempotent).
 */
export class TolerantWorker extends Worker {
  override async close(force = false): Promise<void> {
    const blocking = (this as unknown as { backend?: { blockingConnection?: { _client?: BlockingClient } } }).backend?.blockingConnection?._client;
    if (!force && blocking && (blocking.status === 'reconnecting' || blocking.status === 'connecting')) {
      const ready = await new Promise<boolean>((resolve) => {
        const onReady = () => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          blocking.off('ready', onReady);
          resolve(false);
        }, BLOCKING_RECONNECT_WAIT_MS);
        blocking.once('ready', onReady);
      });
      if (!ready) {
        logger.warn(`the ${this.name} worker's blocking Redis connection is still ${blocking.status}: closing without waiting for running jobs`);
        force = true;
      }
    }
    await super.close(force).catch((err: Error) => logger.warn(`closing the ${this.name} worker: ${err.message}`));
  }
}

// @nestjs/bullmq reads these when `registerQueue` and its explorer create queues and workers: set them when
// this file loads, before any module file that registers a queue (they all import this file)
BullModule.queueClass = TolerantQueue;
BullModule.workerClass = TolerantWorker;

/**
 * The one BullMQ setup of the cloud: every queue, worker and flow producer registered with
 * `BullModule.registerQueue`/`registerFlowProducer` and every `@Processor` shares the connection
 * `createBullmqConnection` builds from the configuration (REDIS_URL with `maxRetriesPerRequest: null`, or a
 * Redis Cluster) and the key prefix (EDGELOOP_BULLMQ_PREFIX), so API replicas and worker replicas meet.
 * `BullConnectionCloser` quits a Cluster client made here once the queues are closed.
 */
export function bullRootModule(): DynamicModule {
  return BullModule.forRootAsync({
    inject: [BullConnectionCloser],
    useFactory: (closer: BullConnectionCloser) => {
      const { connection, prefix } = closer.connection;
      return { connection, prefix };
    },
    extraProviders: [BullConnectionCloser],
  });
}

@Injectable()
export class BullConnectionCloser implements OnApplicationShutdown {
  readonly connection: BullmqConnection;

  constructor(config: CloudConfig) {
    this.connection = createBullmqConnection(config, 'edgeloop-cloud');
  }

  async onApplicationShutdown(): Promise<void> {
    await this.connection.close();
  }
}

/**
 * Worker options every processor of the cloud starts with: not running until `startWorker` (called from
 * the processor's `onApplicationBootstrap`, once the app is up — the MQTT channel a handler may publish
 * on, the schedulers), then as many jobs at a time as the processor asks.
 */
export const DEFERRED_WORKER = { autorun: false } as const;

/** Starts a processor's worker (created with `DEFERRED_WORKER`) with its run-time concurrency. */
export async function startWorker(worker: Worker, concurrency: number): Promise<void> {
  worker.concurrency = concurrency;
  worker.run().catch((err: Error) => logger.error(`the ${worker.name} worker stopped: ${err.message}`));
  await worker.waitUntilReady();
}

/** The handlers of one queue's jobs, typed from the contracts: a processor cannot miss one of its queue's jobs. */
export type QueueJobHandlers<Q extends QueueName> = JobHandlers<Q>;

/**
 * Parses a job with the contracts and runs the handler of its name. An invalid payload, or a job that
 * belongs to another queue, is an UnrecoverableError (after `onInvalid`, which may count and dead-letter it).
 */
export async function dispatchJob<Q extends QueueName>(
  queue: Q,
  job: Job,
  handlers: JobHandlers<Q>,
  onInvalid?: (message: string) => Promise<void>,
): Promise<unknown> {
  const parsed = parseJob(job.name, job.data);
  if (!parsed.ok) {
    await onInvalid?.(parsed.error.message);
    throw new UnrecoverableError(`${job.name}: ${parsed.error.message}`);
  }
  const handler = (handlers as Record<string, ((payload: unknown) => Promise<unknown>) | undefined>)[parsed.value.name];
  if (!handler) {
    await onInvalid?.(`not a ${queue} job`);
    throw new UnrecoverableError(`unexpected job ${job.name} on the ${queue} queue`);
  }
  return handler(parsed.value.payload);
}
