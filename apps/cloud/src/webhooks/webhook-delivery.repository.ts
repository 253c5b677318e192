import { Injectable } from '@nestjs/common';
import type { WebhookDelivery, WebhookEventType } from '@edgeloop/contracts';
import { SqlDatabase, type SqlExecutor } from '../database/sql-database';
import { iso } from '../repositories/model.repository';

export type DeliveryStatus = WebhookDelivery['status'];

/** One HTTP attempt of a delivery, as logged. */
export interface AttemptRecord {
  attempt: number;
  at: Date;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  responseExcerpt: string | null;
  /** When the next attempt is due; null when this one succeeded or was the last. */
  nextRetryAt: Date | null;
}

/** A delivery as the API shows it: the contract's shape plus the redelivery link and the next retry. */
export type DeliveryView = Omit<WebhookDelivery, 'attempts'> & {
  redeliveryOf: string | null;
  nextRetryAt: string | null;
  attempts: Array<WebhookDelivery['attempts'][number] & { nextRetryAt: string | null }>;
};

/** What a delivery attempt needs: where to, the secret, and the exact body. */
export interface DeliveryContext {
  id: string;
  /** The X-Edgeloop-Delivery value: the first delivery's id for a redelivery, so receivers dedupe across both. */
  headerId: string;
  status: DeliveryStatus;
  webhookId: string;
  url: string;
  secret: string;
  eventId: string;
  eventType: WebhookEventType;
  body: string;
}

interface DeliveryRow {
  id: string;
  webhook_id: string;
  event_id: string;
  type: WebhookEventType;
  redelivery_of: string | null;
  status: DeliveryStatus;
  created_at: Date | string;
}

interface AttemptRow {
  delivery_id: string;
  attempt: number;
  at: Date | string;
  status_code: number | null;
  latency_ms: number | string;
  error: string | null;
  response_excerpt: string | null;
  next_retry_at: Date | string | null;
}

/** Webhook events, their deliveries and every attempt, in SQL. */
@Injectable()
export class WebhookDeliveryRepository {
  constructor(private readonly db: SqlDatabase) {}

  async insertEvent(tx: SqlExecutor, event: { id: string; type: WebhookEventType; body: string; createdAt: string }): Promise<void> {
    await tx.query('insert into webhook_events (id, type, body, created_at) values ($1, $2, $3, $4)', [event.id, event.type, event.body, event.createdAt]);
  }

  async insertDeliveries(tx: SqlExecutor, eventId: string, deliveries: Array<{ id: string; webhookId: string; redeliveryOf?: string }>): Promise<void> {
    for (const d of deliveries) {
      await tx.query('insert into webhook_deliveries (id, webhook_id, event_id, redelivery_of) values ($1, $2, $3, $4)', [
        d.id,
        d.webhookId,
        eventId,
        d.redeliveryOf ?? null,
      ]);
    }
  }

  async context(deliveryId: string): Promise<DeliveryContext | undefined> {
    const rows = await this.db.query<{
      id: string;
      redelivery_of: string | null;
      status: DeliveryStatus;
      webhook_id: string;
      url: string;
      secret: string;
      event_id: string;
      type: WebhookEventType;
      body: string;
    }>(
      `select d.id, d.redelivery_of, d.status, d.webhook_id, w.url, w.secret, d.event_id, e.type, e.body
         from webhook_deliveries d join webhooks w on w.id = d.webhook_id join webhook_events e on e.id = d.event_id
        where d.id = $1`,
      [deliveryId],
    );
    const r = rows[0];
    if (!r) return undefined;
    return { id: r.id, headerId: r.redelivery_of ?? r.id, status: r.status, webhookId: r.webhook_id, url: r.url, secret: r.secret, eventId: r.event_id, eventType: r.type, body: r.body };
  }

  /** Logs an attempt and moves a pending delivery to `status`, in one transaction. */
  async recordAttempt(deliveryId: string, attempt: AttemptRecord, status: DeliveryStatus): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query(
        `insert into webhook_attempts (delivery_id, attempt, at, status_code, latency_ms, error, response_excerpt, next_retry_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [deliveryId, attempt.attempt, attempt.at, attempt.statusCode, attempt.latencyMs, attempt.error, attempt.responseExcerpt, attempt.nextRetryAt],
      );
      await tx.query(`update webhook_deliveries set status = $2, updated_at = now() where id = $1 and status = 'pending'`, [deliveryId, status]);
    });
  }

  /** Marks a delivery failed when it is still pending (its job ran out of attempts without a final answer logged). */
  async failIfPending(deliveryId: string): Promise<boolean> {
    const rows = await this.db.query(`update webhook_deliveries set status = 'failed', updated_at = now() where id = $1 and status = 'pending' returning id`, [
      deliveryId,
    ]);
    return rows.length > 0;
  }

  /** Pending deliveries, oldest first: the sweep makes sure each has a job. */
  async pendingIds(limit: number): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>(`select id from webhook_deliveries where status = 'pending' order by created_at limit $1`, [limit]);
    return rows.map((r) => r.id);
  }

  async list(webhookId: string, limit: number): Promise<DeliveryView[]> {
    const rows = await this.db.query<DeliveryRow>(
      `select d.id, d.webhook_id, d.event_id, e.type, d.redelivery_of, d.status, d.created_at
         from webhook_deliveries d join webhook_events e on e.id = d.event_id
        where d.webhook_id = $1 order by d.created_at desc, d.id desc limit $2`,
      [webhookId, limit],
    );
    return this.withAttempts(rows);
  }

  async get(webhookId: string, deliveryId: string): Promise<DeliveryView | undefined> {
    const rows = await this.db.query<DeliveryRow>(
      `select d.id, d.webhook_id, d.event_id, e.type, d.redelivery_of, d.status, d.created_at
         from webhook_deliveries d join webhook_events e on e.id = d.event_id
        where d.webhook_id = $1 and d.id = $2`,
      [webhookId, deliveryId],
    );
    return (await this.withAttempts(rows))[0];
  }

  async recordEmitFailure(failure: { type: string; message: string; dataExcerpt: string | null }): Promise<void> {
    await this.db.query('insert into webhook_emit_failures (type, message, data_excerpt) values ($1, $2, $3)', [
      failure.type.slice(0, 200),
      failure.message.slice(0, 2000),
      failure.dataExcerpt,
    ]);
  }

  async emitFailures(): Promise<Array<{ type: string; message: string }>> {
    return this.db.query<{ type: string; message: string }>('select type, message from webhook_emit_failures order by id');
  }

  private async withAttempts(rows: DeliveryRow[]): Promise<DeliveryView[]> {
    if (rows.length === 0) return [];
    const attempts = await this.db.query<AttemptRow>(
      `select delivery_id, attempt, at, status_code, latency_ms, error, response_excerpt, next_retry_at
         from webhook_attempts where delivery_id = any($1::text[]) order by id`,
      [rows.map((r) => r.id)],
    );
    const byDelivery = new Map<string, DeliveryView['attempts']>();
    for (const a of attempts) {
      const list = byDelivery.get(a.delivery_id) ?? [];
      list.push({
        attempt: Number(a.attempt),
        at: iso(a.at),
        statusCode: a.status_code === null ? null : Number(a.status_code),
        latencyMs: Number(a.latency_ms),
        error: a.error,
        responseExcerpt: a.response_excerpt,
        nextRetryAt: a.next_retry_at ? iso(a.next_retry_at) : null,
      });
      byDelivery.set(a.delivery_id, list);
    }
    return rows.map((r) => {
      const list = byDelivery.get(r.id) ?? [];
      return {
        id: r.id,
        webhookId: r.webhook_id,
        eventId: r.event_id,
        event: r.type,
        status: r.status,
        redeliveryOf: r.redelivery_of,
        nextRetryAt: r.status === 'pending' ? (list.at(-1)?.nextRetryAt ?? null) : null,
        attempts: list,
        createdAt: iso(r.created_at),
      };
    });
  }
}
