import { Injectable } from '@nestjs/common';
import type { SqlExecutor } from '../database/sql-database';
import { SqlDatabase } from '../database/sql-database';
import { iso } from './model.repository';

export interface AuditEntry {
  id: number;
  at: string;
  actor: string | null;
  action: string;
  subject: string;
  details: Record<string, unknown>;
}

/** Every write is recorded: who (token id), what action, on which subject. */
@Injectable()
export class AuditRepository {
  constructor(private readonly db: SqlDatabase) {}

  async record(
    entry: { actor: string | null; action: string; subject: string; details?: Record<string, unknown> },
    tx: SqlExecutor = this.db,
  ): Promise<void> {
    await tx.query('insert into audit_log (actor, action, subject, details) values ($1, $2, $3, $4)', [
      entry.actor,
      entry.action,
      entry.subject,
      JSON.stringify(entry.details ?? {}),
    ]);
  }

  async list(limit = 100): Promise<AuditEntry[]> {
    const rows = await this.db.query<{
      id: string;
      at: Date | string;
      actor: string | null;
      action: string;
      subject: string;
      details: Record<string, unknown> | string;
    }>('select id, at, actor, action, subject, details from audit_log order by id desc limit $1', [limit]);
    return rows.map((r) => ({
      id: Number(r.id),
      at: iso(r.at),
      actor: r.actor,
      action: r.action,
      subject: r.subject,
      details: typeof r.details === 'string' ? JSON.parse(r.details) : r.details,
    }));
  }
}
