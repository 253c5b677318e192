import { Injectable } from '@nestjs/common';
import { decodeVectorBase64, encodeVectorBase64 } from '@edgeloop/training';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { SqlDatabase, type SqlExecutor } from '../database/sql-database';

export type EmbeddingOwner = 'photo' | 'hard_example';

/**
 * Owners per statement of `getMany`. PGlite decodes a statement's whole result on the event loop: the 10,000
 * enrolment embeddings of a 1,000 × 10 gallery (27 MB of base64) in one statement held it, and every API
 * answer with it, for one long stretch when a retraining run built its dataset. A page of 500 is 1.4 MB.
 */
const GET_MANY_PAGE = 500;

/**
 * Embeddings of enrolment photos and hard-example crops, one per (owner, embedder sha256): 512 float32
 * values, little-endian, base64 in a text column (the same on PGlite and PostgreSQL).
 */
@Injectable()
export class EmbeddingRepository {
  constructor(private readonly db: SqlDatabase) {}

  async put(owner: EmbeddingOwner, ownerId: string, embedderSha256: string, vector: Float32Array, tx: SqlExecutor = this.db): Promise<void> {
    await tx.query(
      `insert into embeddings (owner_kind, owner_id, embedder_sha256, vector) values ($1, $2, $3, $4)
       on conflict (owner_kind, owner_id, embedder_sha256) do update set vector = excluded.vector`,
      [owner, ownerId, embedderSha256, encodeVectorBase64(vector)],
    );
  }

  /** The embeddings by `embedderSha256` of these owners (owners without one are absent from the map). */
  async getMany(owner: EmbeddingOwner, ownerIds: string[], embedderSha256: string): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (let at = 0; at < ownerIds.length; at += GET_MANY_PAGE) {
      if (at > 0) await yieldToLoop();
      const rows = await this.db.query<{ owner_id: string; vector: string }>(
        'select owner_id, vector from embeddings where owner_kind = $1 and owner_id = any($2::text[]) and embedder_sha256 = $3',
        [owner, ownerIds.slice(at, at + GET_MANY_PAGE), embedderSha256],
      );
      for (const row of rows) out.set(row.owner_id, decodeVectorBase64(row.vector));
    }
    return out;
  }

  /** Which embedders each owner has an embedding for. */
  async embeddersOf(owner: EmbeddingOwner, ownerIds: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (ownerIds.length === 0) return out;
    const rows = await this.db.query<{ owner_id: string; embedder_sha256: string }>(
      'select owner_id, embedder_sha256 from embeddings where owner_kind = $1 and owner_id = any($2::text[]) order by created_at, embedder_sha256',
      [owner, ownerIds],
    );
    for (const r of rows) out.set(r.owner_id, [...(out.get(r.owner_id) ?? []), r.embedder_sha256]);
    return out;
  }
}
