import { Injectable } from '@nestjs/common';
import type { DeviceSummary, ReportedState } from '@edgeloop/contracts';
import { SqlDatabase, type SqlExecutor } from '../database/sql-database';
import { iso, json } from './model.repository';
import { WriteBatcher } from './write-batcher';

export interface NewDevice {
  id: string;
  name: string;
  group: string | null;
  labels: Record<string, string>;
  mqttPasswordHash: string;
  httpTokenHash: string;
}

interface DeviceRow {
  id: string;
  name: string;
  device_group: string | null;
  labels: Record<string, string> | string;
  disabled: boolean;
  created_at: Date | string;
  presence: string | null;
  last_seen_at: Date | string | null;
  reported: ReportedState | string | null;
}

interface PresenceWrite {
  id: string;
  presence: 'online' | 'offline';
  ts: number;
  seenAt: Date;
}

interface ReportedWrite {
  id: string;
  reported: ReportedState;
  seenAt: Date;
}

const SELECT = `select d.id, d.name, d.device_group, d.labels, d.disabled, d.created_at,
                       s.presence, s.last_seen_at, s.reported
                  from devices d left join device_state s on s.device_id = d.id`;

/** Devices, their hashed credentials, presence and last reported state. */
@Injectable()
export class DeviceRepository {
  constructor(private readonly db: SqlDatabase) {}

  async insert(device: NewDevice): Promise<DeviceSummary> {
    await this.db.transaction(async (tx) => {
      await tx.query(
        `insert into devices (id, name, device_group, labels, mqtt_password_hash, http_token_hash) values ($1, $2, $3, $4, $5, $6)`,
        [device.id, device.name, device.group, JSON.stringify(device.labels), device.mqttPasswordHash, device.httpTokenHash],
      );
      await tx.query(`insert into device_state (device_id) values ($1)`, [device.id]);
    });
    return (await this.get(device.id))!;
  }

  async get(id: string, tx: SqlExecutor = this.db): Promise<DeviceSummary | undefined> {
    const rows = await tx.query<DeviceRow>(`${SELECT} where d.id = $1`, [id]);
    return rows[0] ? toSummary(rows[0]) : undefined;
  }

  /** Several devices by id, in one query. */
  async getMany(ids: string[], tx: SqlExecutor = this.db): Promise<Map<string, DeviceSummary>> {
    if (ids.length === 0) return new Map();
    const rows = await tx.query<DeviceRow>(`${SELECT} where d.id = any($1::text[])`, [ids]);
    return new Map(rows.map((r) => [r.id, toSummary(r)]));
  }

  async list(filter: { group?: string } = {}): Promise<DeviceSummary[]> {
    const rows = await this.db.query<DeviceRow>(
      `${SELECT} where ($1::text is null or d.device_group = $1) order by d.created_at, d.id`,
      [filter.group ?? null],
    );
    return rows.map(toSummary);
  }

  /** Credentials for the broker's authentication hook; undefined for unknown, disabled or quarantined devices. */
  async credentials(id: string): Promise<{ mqttPasswordHash: string } | undefined> {
    const rows = await this.db.query<{ mqtt_password_hash: string }>(
      `select mqtt_password_hash from devices d where id = $1 and not disabled
          and not exists (select 1 from device_quarantines q where q.device_id = d.id and q.lifted_at is null)`,
      [id],
    );
    return rows[0] ? { mqttPasswordHash: rows[0].mqtt_password_hash } : undefined;
  }

  async findByHttpTokenHash(hash: string): Promise<{ id: string } | undefined> {
    const rows = await this.db.query<{ id: string }>('select id from devices where http_token_hash = $1 and not disabled', [hash]);
    return rows[0];
  }

  async setDisabled(id: string, disabled: boolean): Promise<boolean> {
    const rows = await this.db.query('update devices set disabled = $2 where id = $1 returning id', [id, disabled]);
    return rows.length > 0;
  }

  /**
   * Presence from a status message. Replicas handle a device's messages in any order, so the write is
   * conditional on the message's own `ts`: an older status handled later leaves the newer presence in place
   * (a will carries the start of the session it ends, so it loses to the `online` of a later session).
   * "Last seen" only moves forward. Returns whether the presence was written. Writes made at the same time
   * (the MQTT channel handles several devices at once) go to SQL together, in one statement.
   */
  setPresence(id: string, presence: 'online' | 'offline', messageTs: number, seenAt: Date): Promise<boolean> {
    return this.presenceWrites.add({ id, presence, ts: messageTs, seenAt });
  }

  /**
   * The last reported state, conditional on the report's own `ts`: an older report handled later (by
   * another replica, or redelivered) leaves the newer one in place. "Last seen" only moves forward.
   * Returns whether the report was written. Batched like `setPresence`: a rollout to thousands of devices
   * brings thousands of reports within a second.
   */
  setReported(id: string, reported: ReportedState, seenAt: Date): Promise<boolean> {
    return this.reportedWrites.add({ id, reported, seenAt });
  }

  private readonly presenceWrites = new WriteBatcher<PresenceWrite, boolean>(
    async (writes) => {
      const rows = await this.db.query<{ device_id: string; applied: boolean }>(
        `update device_state s
            set presence = case when s.presence_ts is null or s.presence_ts <= w.ts then w.presence else s.presence end,
                presence_ts = case when s.presence_ts is null or s.presence_ts <= w.ts then w.ts else s.presence_ts end,
                last_seen_at = greatest(coalesce(s.last_seen_at, w.seen_at), w.seen_at), updated_at = now()
           from unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[]) as w(device_id, presence, ts, seen_at)
          where s.device_id = w.device_id
          returning s.device_id, s.presence_ts = w.ts as applied`,
        [writes.map((w) => w.id), writes.map((w) => w.presence), writes.map((w) => w.ts), writes.map((w) => w.seenAt.toISOString())],
      );
      const applied = new Map(rows.map((r) => [r.device_id, r.applied === true]));
      return writes.map((w) => applied.get(w.id) ?? false);
    },
    (w) => w.id,
  );

  private readonly reportedWrites = new WriteBatcher<ReportedWrite, boolean>(
    async (writes) => {
      const rows = await this.db.query<{ device_id: string; applied: boolean }>(
        `update device_state s
            set reported = case when s.reported is null or (s.reported->>'ts')::bigint <= w.ts then w.reported::jsonb else s.reported end,
                last_seen_at = greatest(coalesce(s.last_seen_at, w.seen_at), w.seen_at), updated_at = now()
           from unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[]) as w(device_id, reported, ts, seen_at)
          where s.device_id = w.device_id
          returning s.device_id, (s.reported->>'ts')::bigint = w.ts as applied`,
        [writes.map((w) => w.id), writes.map((w) => JSON.stringify(w.reported)), writes.map((w) => w.reported.ts), writes.map((w) => w.seenAt.toISOString())],
      );
      const applied = new Map(rows.map((r) => [r.device_id, r.applied === true]));
      return writes.map((w) => applied.get(w.id) ?? false);
    },
    (w) => w.id,
  );

  /** Ids of enabled devices matching a target: explicit ids, a group, or every label of a selector. */
  async resolveTarget(
    target: { devices?: string[]; group?: string; selector?: Record<string, string> },
    tx: SqlExecutor = this.db,
  ): Promise<string[]> {
    if (target.devices) {
      const rows = await tx.query<{ id: string }>('select id from devices where id = any($1::text[]) and not disabled order by id', [
        target.devices,
      ]);
      return rows.map((r) => r.id);
    }
    if (target.group) {
      const rows = await tx.query<{ id: string }>('select id from devices where device_group = $1 and not disabled order by id', [
        target.group,
      ]);
      return rows.map((r) => r.id);
    }
    const rows = await tx.query<{ id: string }>('select id from devices where labels @> $1::jsonb and not disabled order by id', [
      JSON.stringify(target.selector ?? {}),
    ]);
    return rows.map((r) => r.id);
  }
}

function toSummary(r: DeviceRow): DeviceSummary {
  return {
    id: r.id,
    name: r.name,
    group: r.device_group,
    labels: json(r.labels) ?? {},
    disabled: r.disabled,
    presence: (r.presence as DeviceSummary['presence']) ?? 'unknown',
    lastSeenAt: r.last_seen_at ? iso(r.last_seen_at) : null,
    reported: json(r.reported),
    createdAt: iso(r.created_at),
  };
}
