import { Injectable } from '@nestjs/common';
import { SqlDatabase } from '../database/sql-database';
import type { TokenRole } from '../repositories/token.repository';

/** The API token a session or sign-in link stands for, as long as that token is not revoked. */
export interface SessionOwner {
  tokenId: string;
  name: string;
  role: TokenRole;
}

interface OwnerRow {
  id: string;
  name: string;
  role: TokenRole;
}

/** Dashboard sessions and one-time sign-in links, stored by the sha256 of their secret. */
@Injectable()
export class SessionRepository {
  constructor(private readonly db: SqlDatabase) {}

  async insertSession(idHash: string, tokenId: string, expiresAt: Date): Promise<void> {
    await this.db.query('delete from dashboard_sessions where expires_at < now()');
    await this.db.query('insert into dashboard_sessions (id_hash, token_id, expires_at) values ($1, $2, $3)', [idHash, tokenId, expiresAt]);
  }

  async findSessionOwner(idHash: string): Promise<SessionOwner | undefined> {
    const rows = await this.db.query<OwnerRow>(
      `select t.id, t.name, t.role from dashboard_sessions s join api_tokens t on t.id = s.token_id
       where s.id_hash = $1 and s.expires_at > now() and t.revoked_at is null`,
      [idHash],
    );
    return rows[0] ? { tokenId: rows[0].id, name: rows[0].name, role: rows[0].role } : undefined;
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.db.query('delete from dashboard_sessions where id_hash = $1', [idHash]);
  }

  async insertLink(codeHash: string, tokenId: string, expiresAt: Date): Promise<void> {
    await this.db.query('delete from dashboard_sign_in_links where expires_at < now()');
    await this.db.query('insert into dashboard_sign_in_links (code_hash, token_id, expires_at) values ($1, $2, $3)', [codeHash, tokenId, expiresAt]);
  }

  /** Marks a link used and returns its owner; undefined when it is unknown, used, expired or its token revoked. */
  async redeemLink(codeHash: string): Promise<SessionOwner | undefined> {
    const rows = await this.db.query<OwnerRow>(
      `with used as (
         update dashboard_sign_in_links set used_at = now()
         where code_hash = $1 and used_at is null and expires_at > now()
         returning token_id)
       select t.id, t.name, t.role from used join api_tokens t on t.id = used.token_id where t.revoked_at is null`,
      [codeHash],
    );
    return rows[0] ? { tokenId: rows[0].id, name: rows[0].name, role: rows[0].role } : undefined;
  }
}
