import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { describeZodError, type WebhookEventData, WebhookEventSchema, type WebhookEventType } from '@edgeloop/contracts';
import { randomBytes } from 'node:crypto';
import { SqlDatabase } from '../database/sql-database';
import { WebhookDeliveryRepository } from './webhook-delivery.repository';
import { WebhookRepository } from './webhook.repository';
import { WebhookQueue } from './webhook.queue';

/** What `emit` stored: the event id (the body's `id`) and one delivery per subscription that receives it. */
export interface EmittedWebhookEvent {
  eventId: string;
  deliveryIds: string[];
}

/**
 * What other services call to raise a webhook event. `emit` validates the data against the event's
 * schema in `@edgeloop/contracts`, stores the event with one delivery per matching subscription in one
 * transaction, and enqueues a `webhooks.deliver` job per delivery. It never rejects: a failure is
 * logged (and an invalid event stored in `webhook_emit_failures`), and the caller's flow goes on.
 *
 * Call it after your own transaction has committed, never with `await` inside `db.transaction(…)`
 * (it runs its own queries; on PGlite they would wait for the open transaction forever).
 */
@Injectable()
export class WebhookPublisher implements BeforeApplicationShutdown {
  private readonly logger = new Logger(WebhookPublisher.name);
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly db: SqlDatabase,
    private readonly webhooks: WebhookRepository,
    private readonly deliveries: WebhookDeliveryRepository,
    private readonly queue: WebhookQueue,
  ) {}

  /** Stores and enqueues the event; resolves to what was stored, or null when it could not be (logged). */
  emit<T extends WebhookEventType>(type: T, data: WebhookEventData<T>): Promise<EmittedWebhookEvent | null> {
    const work = this.store(type, data).catch((err: Error) => {
      this.logger.error(`could not emit ${String(type).slice(0, 64)}: ${err.message}`);
      return null;
    });
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
    return work;
  }

  /** Makes sure every pending delivery has a job (after an enqueue failed, or Redis lost its data); jobs that exist are left alone. */
  async requeuePending(limit = 1000): Promise<number> {
    const ids = await this.deliveries.pendingIds(limit);
    await this.queue.enqueue(ids);
    return ids.length;
  }

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(this.inFlight);
  }

  private async store<T extends WebhookEventType>(type: T, data: WebhookEventData<T>): Promise<EmittedWebhookEvent | null> {
    const envelope = { id: webhookRecordId('evt'), type, createdAt: new Date().toISOString(), data };
    const parsed = WebhookEventSchema.safeParse(envelope);
    if (!parsed.success) {
      const message = `invalid ${String(type).slice(0, 64)} event: ${describeZodError(parsed.error)}`;
      this.logger.error(`${message}; not delivered`);
      await this.deliveries.recordEmitFailure({ type: String(type), message, dataExcerpt: excerpt(data) });
      return null;
    }
    const body = JSON.stringify(parsed.data);
    const deliveryIds = await this.db.transaction(async (tx) => {
      const subscribers = await this.webhooks.subscribedTo(type, tx);
      const deliveries = subscribers.map((webhookId) => ({ id: webhookRecordId('dlv'), webhookId }));
      await this.deliveries.insertEvent(tx, { id: envelope.id, type, body, createdAt: envelope.createdAt });
      await this.deliveries.insertDeliveries(tx, envelope.id, deliveries);
      return deliveries.map((d) => d.id);
    });
    try {
      await this.queue.enqueue(deliveryIds);
    } catch (err) {
      this.logger.warn(`${type} ${envelope.id}: ${deliveryIds.length} deliveries stored but not enqueued (${(err as Error).message}); the next sweep enqueues them`);
    }
    return { eventId: envelope.id, deliveryIds };
  }
}

/** `evt_…`, `dlv_…`, `wh_…`: record ids (letters, digits, `_`, `-`) that are valid BullMQ job ids. */
export function webhookRecordId(prefix: 'evt' | 'dlv' | 'wh'): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}

function excerpt(data: unknown): string | null {
  try {
    return JSON.stringify(data)?.slice(0, 2000) ?? null;
  } catch {
    return null;
  }
}
