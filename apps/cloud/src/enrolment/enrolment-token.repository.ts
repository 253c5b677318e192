import { Injectable } from '@nestjs/common';
import { SqlDatabase } from '../database/sql-database';

/** A device's labels (`DeviceLabelsSchema` in libs/contracts). */
type DeviceLabels = Record<string, string>;

export interface EnrolmentTokenRecord {
  id: string;
  group: string;
  labels: DeviceLabels;
  description: string | null;
  maxUses: number;
  uses: number;
  expiresAt: Date;
  createdAt: Date;
  revokedAt: Date | null;
  devices: string[];
}

interface TokenRow {
  id: string;
  device_group: string;
  labels: DeviceLabels | string;
  description: string | null;
  max_uses: number;
  uses: number;
  expires_at: Date | string;
  created_at: Date | string;
  revoked_at: Date | string | null;
  devices: string[] | null;
}

/** Why a claim was refused, read in the same statement as the claim. */
export type ClaimRefusal = 'unknown' | 'revoked' | 'expired' | 'used_up' | 'replayed' | 'device_taken';

const SELECT = `select t.id, t.device_group, t.labels, t.description, t.max_uses, t.uses, t.expires_at, t.created_at, t.revoked_at,
  coalesce((select array_agg(e.device_id order by e.enrolled_at, e.device_id) from device_enrolments e where e.token_id = t.id), '{}') as devices
  from enrolment_tokens t`;

/** Enrolment tokens (stored by the sha256 of the token) and the enrolments made with them. */
@Injectable()
export class EnrolmentTokenRepository {
  constructor(private readonly db: SqlDatabase) {}

  async insert(token: {
    id: string;
    tokenHash: string;
    group: string;
    labels: DeviceLabels;
    description: string | null;
    maxUses: number;
    expiresAt: Date;
    createdBy: string | null;
  }): Promise<EnrolmentTokenRecord> {
    await this.db.query(
      `insert into enrolment_tokens (id, token_hash, device_group, labels, description, max_uses, expires_at, created_by)
       values ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [token.id, token.tokenHash, token.group, JSON.stringify(token.labels), token.description, token.maxUses, token.expiresAt, token.createdBy],
    );
    return (await this.get(token.id))!;
  }

  async list(): Promise<EnrolmentTokenRecord[]> {
    return (await this.db.query<TokenRow>(`${SELECT} order by t.created_at desc, t.id`)).map(toRecord);
  }

  async get(id: string): Promise<EnrolmentTokenRecord | undefined> {
    const rows = await this.db.query<TokenRow>(`${SELECT} where t.id = $1`, [id]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async findByHash(tokenHash: string): Promise<EnrolmentTokenRecord | undefined> {
    const rows = await this.db.query<TokenRow>(`${SELECT} where t.token_hash = $1`, [tokenHash]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  /** Sets `revoked_at` once; false when there is no such token. */
  async revoke(id: string): Promise<boolean> {
    const rows = await this.db.query<{ id: string }>('update enrolment_tokens set revoked_at = coalesce(revoked_at, now()) where id = $1 returning id', [id]);
    return rows.length > 0;
  }

  /**
   * Takes one use of the token for `deviceId` under `nonce`, in one transaction: the use is counted and the
   * enrolment recorded only if the token is live, has a use left, the nonce is new and the device id is
   * free. Concurrent claims queue on the token's row, so `uses` never passes `max_uses`.
   */
  async claim(tokenHash: string, nonce: string, deviceId: string): Promise<{ token: EnrolmentTokenRecord } | { refused: ClaimRefusal }> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.query<{ id: string; revoked: boolean; expired: boolean; used_up: boolean }>(
        `select id, revoked_at is not null as revoked, expires_at <= now() as expired, uses >= max_uses as used_up
         from enrolment_tokens where token_hash = $1 for update`,
        [tokenHash],
      );
      const row = rows[0];
      if (!row) return { refused: 'unknown' as const };
      if (row.revoked) return { refused: 'revoked' as const };
      if (row.expired) return { refused: 'expired' as const };
      if ((await tx.query('select 1 from device_enrolments where nonce = $1', [nonce])).length > 0) return { refused: 'replayed' as const };
      if (row.used_up) return { refused: 'used_up' as const };
      // taken by an earlier enrolment, or by a device provisioned by hand: checked before any use is claimed
      const taken = await tx.query('select 1 from device_enrolments where device_id = $1 union all select 1 from devices where id = $1', [deviceId]);
      if (taken.length > 0) return { refused: 'device_taken' as const };
      await tx.query('update enrolment_tokens set uses = uses + 1 where id = $1', [row.id]);
      await tx.query('insert into device_enrolments (nonce, token_id, device_id) values ($1, $2, $3)', [nonce, row.id, deviceId]);
      const token = await tx.query<TokenRow>(`${SELECT} where t.id = $1`, [row.id]);
      return { token: toRecord(token[0]) };
    });
  }

  /** Gives a claimed use back when provisioning the device failed, so a refused enrolment leaves nothing behind. */
  async release(nonce: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const rows = await tx.query<{ token_id: string }>('delete from device_enrolments where nonce = $1 returning token_id', [nonce]);
      if (rows[0]) await tx.query('update enrolment_tokens set uses = uses - 1 where id = $1', [rows[0].token_id]);
    });
  }
}

function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

function toRecord(row: TokenRow): EnrolmentTokenRecord {
  return {
    id: row.id,
    group: row.device_group,
    labels: typeof row.labels === 'string' ? (JSON.parse(row.labels) as DeviceLabels) : row.labels,
    description: row.description,
    maxUses: row.max_uses,
    uses: row.uses,
    expiresAt: toDate(row.expires_at),
    createdAt: toDate(row.created_at),
    revokedAt: row.revoked_at === null ? null : toDate(row.revoked_at),
    devices: row.devices ?? [],
  };
}
