import { Injectable, Logger } from '@nestjs/common';
import type { CreateWebhookRequest, WebhookSubscription } from '@edgeloop/contracts';
import { randomBytes } from 'node:crypto';
import { SqlDatabase } from '../database/sql-database';
import { NotFoundError } from '../errors/domain.errors';
import { AuditRepository } from '../repositories/audit.repository';
import { type DeliveryView, WebhookDeliveryRepository } from './webhook-delivery.repository';
import { webhookRecordId } from './webhook-publisher';
import { WebhookTargetPolicy } from './webhook-target.policy';
import { toSubscription, WebhookRepository } from './webhook.repository';
import { WebhookQueue } from './webhook.queue';

/** Subscriptions (create, list, delete), the delivery log, and redelivery on demand. */
@Injectable()
export class WebhookService {
  private readonly logger = new Logger(WebhookService.name);

  constructor(
    private readonly db: SqlDatabase,
    private readonly webhooks: WebhookRepository,
    private readonly deliveries: WebhookDeliveryRepository,
    private readonly policy: WebhookTargetPolicy,
    private readonly queue: WebhookQueue,
    private readonly audit: AuditRepository,
  ) {}

  /** Checks the URL against the SSRF rules (422 when refused); the secret is in this answer only. */
  async create(request: CreateWebhookRequest, actor: string | null): Promise<WebhookSubscription & { secret: string }> {
    await this.policy.check(request.url);
    const secret = request.secret ?? `whsec_${randomBytes(32).toString('base64url')}`;
    const record = await this.webhooks.insert({
      id: webhookRecordId('wh'),
      url: request.url,
      events: request.events,
      secret,
      description: request.description ?? null,
      createdBy: actor,
    });
    await this.audit.record({ actor, action: 'webhook.create', subject: record.id, details: { url: record.url, events: record.events } });
    return { ...toSubscription(record), secret };
  }

  async list(): Promise<WebhookSubscription[]> {
    return (await this.webhooks.list()).map(toSubscription);
  }

  async get(id: string): Promise<WebhookSubscription> {
    return toSubscription(await this.require(id));
  }

  /** Deletes the subscription and its delivery log; its pending retries find nothing and stop. */
  async delete(id: string, actor: string | null): Promise<void> {
    if (!(await this.webhooks.delete(id))) throw new NotFoundError(`webhook ${id}`);
    await this.audit.record({ actor, action: 'webhook.delete', subject: id });
  }

  async listDeliveries(id: string, limit: number): Promise<DeliveryView[]> {
    await this.require(id);
    return this.deliveries.list(id, limit);
  }

  /**
   * A new delivery of the same event (same body), attempted from the start with its own log. It is sent
   * with the X-Edgeloop-Delivery of the first delivery it repeats, so a receiver that dedupes on that
   * header sees one delivery however often it is redelivered.
   */
  async redeliver(id: string, deliveryId: string, actor: string | null): Promise<DeliveryView> {
    await this.require(id);
    const original = await this.deliveries.get(id, deliveryId);
    if (!original) throw new NotFoundError(`delivery ${deliveryId} of webhook ${id}`);
    const redelivery = { id: webhookRecordId('dlv'), webhookId: id, redeliveryOf: original.redeliveryOf ?? original.id };
    await this.db.transaction((tx) => this.deliveries.insertDeliveries(tx, original.eventId, [redelivery]));
    await this.audit.record({ actor, action: 'webhook.redeliver', subject: id, details: { deliveryId: redelivery.id, of: original.id } });
    try {
      await this.queue.enqueue([redelivery.id]);
    } catch (err) {
      this.logger.warn(`redelivery ${redelivery.id} stored but not enqueued (${(err as Error).message}); the next sweep enqueues it`);
    }
    return (await this.deliveries.get(id, redelivery.id))!;
  }

  private async require(id: string) {
    const record = await this.webhooks.get(id);
    if (!record) throw new NotFoundError(`webhook ${id}`);
    return record;
  }
}
