import { Injectable } from '@nestjs/common';
import { SqlDatabase } from '../database/sql-database';
import { iso } from './model.repository';

export const TOKEN_ROLES = ['viewer', 'operator', 'admin'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

export interface TokenRecord {
  id: string;
  name: string;
  role: TokenRole;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

interface TokenRow {
  id: string;
  name: string;
  role: TokenRole;
  created_at: Date | string;
  last_used_at: Date | string | null;
  revoked_at: Date | string | null;
}

/** How stale a token's `last_used_at` may be: it is written on a request at most this often. */
export const LAST_USED_RESOLUTION_SECONDS = 60;

/** API tokens, stored as sha256 hashes of the secret (tokens are 256-bit random, so a fast hash is enough). */
@Injectable()
export class TokenRepository {
  constructor(private readonly db: SqlDatabase) {}

  async insert(token: { id: string; name: string; role: TokenRole; hash: string }): Promise<TokenRecord> {
    const [row] = await this.db.query<TokenRow>(
      `insert into api_tokens (id, name, role, token_hash) values ($1, $2, $3, $4)
       on conflict (token_hash) do update set name = api_tokens.name
       returning id, name, role, created_at, last_used_at, revoked_at`,
      [token.id, token.name, token.role, token.hash],
    );
    return toRecord(row);
  }

  /**
   * The bootstrap token from the environment: replaces the stored one when the environment's secret
   * changed. A revocation holds for as long as the secret stays the same: only a new secret (a new
   * hash) brings the bootstrap token back.
   */
  async upsertBootstrap(hash: string): Promise<void> {
    await this.db.query(
      `insert into api_tokens (id, name, role, token_hash) values ('bootstrap', 'bootstrap', 'admin', $1)
       on conflict (id) do update set token_hash = excluded.token_hash, role = 'admin',
         revoked_at = case when api_tokens.token_hash = excluded.token_hash then api_tokens.revoked_at else null end`,
      [hash],
    );
  }

  /**
   * The token with this hash unless revoked. Its `last_used_at` is written at most once a minute
   * (`LAST_USED_RESOLUTION_SECONDS`): a write per request made every API call an UPDATE — a WAL record and, on
   * PostgreSQL, a row lock that serialised concurrent requests carrying the same token (a dashboard, a CI job,
   * replicas behind one load balancer).
   */
  async findActiveByHash(hash: string): Promise<TokenRecord | undefined> {
    const rows = await this.db.query<TokenRow>(
      `with found as (
         select id, name, role, created_at, last_used_at, revoked_at from api_tokens where token_hash = $1 and revoked_at is null
       ), touched as (
         update api_tokens t set last_used_at = now() from found
          where t.id = found.id and (found.last_used_at is null or found.last_used_at < now() - make_interval(secs => $2))
          returning t.last_used_at
       )
       select id, name, role, created_at, coalesce((select last_used_at from touched), found.last_used_at) as last_used_at, revoked_at from found`,
      [hash, LAST_USED_RESOLUTION_SECONDS],
    );
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async list(): Promise<TokenRecord[]> {
    const rows = await this.db.query<TokenRow>(
      'select id, name, role, created_at, last_used_at, revoked_at from api_tokens order by created_at',
    );
    return rows.map(toRecord);
  }

  async revoke(id: string): Promise<boolean> {
    const rows = await this.db.query(
      'update api_tokens set revoked_at = now() where id = $1 and revoked_at is null returning id',
      [id],
    );
    return rows.length > 0;
  }

  async countActive(role?: TokenRole): Promise<number> {
    const [row] = await this.db.query<{ n: string }>(
      `select count(*) as n from api_tokens where revoked_at is null and ($1::text is null or role = $1)`,
      [role ?? null],
    );
    return Number(row.n);
  }
}

function toRecord(r: TokenRow): TokenRecord {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    createdAt: iso(r.created_at),
    lastUsedAt: r.last_used_at ? iso(r.last_used_at) : null,
    revokedAt: r.revoked_at ? iso(r.revoked_at) : null,
  };
}
