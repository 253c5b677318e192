import { Injectable } from '@nestjs/common';
import { SqlDatabase, type SqlExecutor } from '../database/sql-database';

export type EmbeddingOwner = 'photo' | 'hard_example';

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
      [owner, ownerId, embedderSha256, encodeVector(vector)],
    );
  }

  /** The embeddings by `embedderSha256` of these owners (owners without one are absent from the map). */
  async getMany(owner: EmbeddingOwner, ownerIds: string[], embedderSha256: string): Promise<Map<string, Float32Array>> {
    if (ownerIds.length === 0) return new Map();
    const rows = await this.db.query<{ owner_id: string; vector: string }>(
      'select owner_id, vector from embeddings where owner_kind = $1 and owner_id = any($2::text[]) and embedder_sha256 = $3',
      [owner, ownerIds, embedderSha256],
    );
    return new Map(rows.map((r) => [r.owner_id, decodeVector(r.vector)]));
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

export function encodeVector(vector: Float32Array): string {
  const bytes = Buffer.alloc(vector.length * 4);
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i], i * 4);
  return bytes.toString('base64');
}

export function decodeVector(text: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}
