import { Injectable } from '@nestjs/common';
import { SqlDatabase } from '../database/sql-database';
import { iso, json } from '../repositories/model.repository';
import { WriteBatcher } from '../repositories/write-batcher';
import type { QuotaOverride } from './quota-settings';

export interface QuarantineRecord {
  deviceId: string;
  reason: string;
  strikes: number;
  quarantinedAt: string;
  liftedAt: string | null;
  liftedBy: string | null;
}

interface QuarantineRow {
  device_id: string;
  reason: string;
  strikes: number;
  quarantined_at: Date | string;
  lifted_at: Date | string | null;
  lifted_by: string | null;
}

const toQuarantine = (r: QuarantineRow): QuarantineRecord => ({
  deviceId: r.device_id,
  reason: r.reason,
  strikes: Number(r.strikes),
  quarantinedAt: iso(r.quarantined_at),
  liftedAt: r.lifted_at ? iso(r.lifted_at) : null,
  liftedBy: r.lifted_by,
});

/** Per-group quota overrides and device quarantines in SQL. */
@Injectable()
export class QuotaRepository {
  constructor(private readonly db: SqlDatabase) {}

  /** Lookups made at the same time go out as one statement (5,000 devices reporting at once were 5,000 queries). */
  private readonly groupReads = new WriteBatcher<string, { group: string | null; disabled: boolean } | undefined>(
    async (ids) => {
      const rows = await this.db.query<{ id: string; device_group: string | null; disabled: boolean }>(
        'select id, device_group, disabled from devices where id = any($1::text[])',
        [ids],
      );
      const byId = new Map(rows.map((r) => [r.id, { group: r.device_group, disabled: r.disabled }]));
      return ids.map((id) => byId.get(id));
    },
    (id) => id,
  );

  /** A device's group and whether it exists. */
  async deviceGroup(deviceId: string): Promise<{ group: string | null; disabled: boolean } | undefined> {
    return this.groupReads.add(deviceId);
  }

  async overrides(): Promise<Map<string, QuotaOverride>> {
    const rows = await this.db.query<{ device_group: string; limits: QuotaOverride | string }>('select device_group, limits from quota_group_overrides');
    return new Map(rows.map((r) => [r.device_group, json(r.limits) as QuotaOverride]));
  }

  async setOverride(group: string, limits: QuotaOverride, actor: string | null): Promise<void> {
    await this.db.query(
      `insert into quota_group_overrides (device_group, limits, updated_by) values ($1, $2, $3)
       on conflict (device_group) do update set limits = excluded.limits, updated_by = excluded.updated_by, updated_at = now()`,
      [group, JSON.stringify(limits), actor],
    );
  }

  async deleteOverride(group: string): Promise<boolean> {
    return (await this.db.query('delete from quota_group_overrides where device_group = $1 returning device_group', [group])).length > 0;
  }

  /** Opens a quarantine; false when one is already open for the device. */
  async openQuarantine(deviceId: string, reason: string, strikes: number): Promise<boolean> {
    const rows = await this.db.query(
      `insert into device_quarantines (device_id, reason, strikes) values ($1, $2, $3)
       on conflict (device_id) where lifted_at is null do nothing returning id`,
      [deviceId, reason, strikes],
    );
    return rows.length > 0;
  }

  async liftQuarantine(deviceId: string, actor: string | null): Promise<QuarantineRecord | undefined> {
    const [row] = await this.db.query<QuarantineRow>(
      `update device_quarantines set lifted_at = now(), lifted_by = $2 where device_id = $1 and lifted_at is null
       returning device_id, reason, strikes, quarantined_at, lifted_at, lifted_by`,
      [deviceId, actor],
    );
    return row ? toQuarantine(row) : undefined;
  }

  async openQuarantineOf(deviceId: string): Promise<QuarantineRecord | undefined> {
    const [row] = await this.db.query<QuarantineRow>(
      'select device_id, reason, strikes, quarantined_at, lifted_at, lifted_by from device_quarantines where device_id = $1 and lifted_at is null',
      [deviceId],
    );
    return row ? toQuarantine(row) : undefined;
  }

  async openQuarantines(): Promise<QuarantineRecord[]> {
    const rows = await this.db.query<QuarantineRow>(
      'select device_id, reason, strikes, quarantined_at, lifted_at, lifted_by from device_quarantines where lifted_at is null order by quarantined_at',
    );
    return rows.map(toQuarantine);
  }
}
