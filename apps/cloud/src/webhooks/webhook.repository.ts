import { Injectable } from '@nestjs/common';
import { WEBHOOK_ALL_EVENTS, type WebhookEventType, type WebhookSubscription } from '@edgeloop/contracts';
import { SqlDatabase, type SqlExecutor } from '../database/sql-database';
import { iso } from '../repositories/model.repository';

export type WebhookEventSelector = WebhookEventType | typeof WEBHOOK_ALL_EVENTS;

/** A subscription as stored; `secret` never leaves the cloud except in the answer that created it. */
export interface WebhookRecord {
  id: string;
  url: string;
  events: WebhookEventSelector[];
  secret: string;
  description: string | null;
  createdBy: string | null;
  createdAt: string;
}

interface WebhookRow {
  id: string;
  url: string;
  events: string[] | string;
  secret: string;
  description: string | null;
  created_by: string | null;
  created_at: Date | string;
}

/** Webhook subscriptions in SQL. */
@Injectable()
export class WebhookRepository {
  constructor(private readonly db: SqlDatabase) {}

  async insert(webhook: Omit<WebhookRecord, 'createdAt'>): Promise<WebhookRecord> {
    const [row] = await this.db.query<WebhookRow>(
      `insert into webhooks (id, url, events, secret, description, created_by) values ($1, $2, $3::text[], $4, $5, $6) returning *`,
      [webhook.id, webhook.url, webhook.events, webhook.secret, webhook.description, webhook.createdBy],
    );
    return toRecord(row!);
  }

  async get(id: string, tx: SqlExecutor = this.db): Promise<WebhookRecord | undefined> {
    const rows = await tx.query<WebhookRow>('select * from webhooks where id = $1', [id]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async list(): Promise<WebhookRecord[]> {
    const rows = await this.db.query<WebhookRow>('select * from webhooks order by created_at, id');
    return rows.map(toRecord);
  }

  /** Deletes the subscription with its deliveries and their attempts; false when there was none. */
  async delete(id: string): Promise<boolean> {
    const rows = await this.db.query('delete from webhooks where id = $1 returning id', [id]);
    return rows.length > 0;
  }

  /** Ids of the subscriptions that receive `type` (listed, or `*`). */
  async subscribedTo(type: WebhookEventType, tx: SqlExecutor = this.db): Promise<string[]> {
    const rows = await tx.query<{ id: string }>('select id from webhooks where $1 = any(events) or $2 = any(events) order by id', [
      type,
      WEBHOOK_ALL_EVENTS,
    ]);
    return rows.map((r) => r.id);
  }
}

/** The public shape: everything but the secret. */
export function toSubscription(record: WebhookRecord): WebhookSubscription {
  return { id: record.id, url: record.url, events: record.events, description: record.description, createdAt: record.createdAt };
}

function toRecord(r: WebhookRow): WebhookRecord {
  return {
    id: r.id,
    url: r.url,
    events: (typeof r.events === 'string' ? parsePgArray(r.events) : r.events) as WebhookEventSelector[],
    secret: r.secret,
    description: r.description,
    createdBy: r.created_by,
    createdAt: iso(r.created_at),
  };
}

/** `{a,b}` → ['a', 'b'] for a driver that hands text[] back as text (event names need no quoting). */
function parsePgArray(text: string): string[] {
  const inner = text.replace(/^\{|\}$/g, '');
  return inner === '' ? [] : inner.split(',').map((s) => s.replace(/^"|"$/g, ''));
}
