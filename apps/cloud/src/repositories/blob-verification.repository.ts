import { Injectable } from '@nestjs/common';
import { SqlDatabase } from '../database/sql-database';

/** A claim older than this belongs to an upload that died with its process; it no longer pins the blob. */
const STALE_CLAIM = '1 day';

/**
 * Which content-addressed blobs were verified (their bytes hashed to their name before they were stored
 * there), and which blobs uploads in flight rely on. A stored blob counts as present only with a row here.
 *
 * Removal and reliance are ordered by the verification row's lock: an upload claims a blob, then reads its
 * verification `for share`; a failing upload removes a blob only while holding that row `for update`, and only
 * when no version references it and no other upload claims it. So a blob another upload relies on is never
 * removed under it, and an upload that finds the row gone stores the blob itself.
 */
@Injectable()
export class BlobVerificationRepository {
  constructor(private readonly db: SqlDatabase) {}

  /** Pins a blob for an upload in flight, before the upload decides whether the stored blob is there. */
  async claim(uploadId: string, sha256: string): Promise<void> {
    await this.db.query('insert into blob_claims (upload_id, sha256) values ($1, $2) on conflict do nothing', [uploadId, sha256]);
  }

  /** Drops every claim of an upload (after it registered its version, or after it failed and cleaned up). */
  async release(uploadId: string): Promise<void> {
    await this.db.query('delete from blob_claims where upload_id = $1', [uploadId]);
  }

  /** The size of a verified blob, or undefined when the blob was never verified (whatever S3 holds). */
  async verifiedSize(sha256: string): Promise<number | undefined> {
    const rows = await this.db.query<{ size: string }>('select size from blob_verifications where sha256 = $1 for share', [sha256]);
    return rows[0] ? Number(rows[0].size) : undefined;
  }

  /** Records that `blobs/sha256/<sha256>` now holds bytes that hash to its name. */
  async recordVerified(sha256: string, size: number): Promise<void> {
    await this.db.query(
      `insert into blob_verifications (sha256, size) values ($1, $2)
       on conflict (sha256) do update set size = excluded.size, verified_at = now()`,
      [sha256, size],
    );
  }

  /**
   * Forgets a blob a failed upload stored and runs `removeObject` while the verification row is locked —
   * unless a registered version references the blob or another upload claims it. True when it was removed.
   */
  async forget(sha256: string, uploadId: string, removeObject: () => Promise<void>): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await tx.query('select 1 from blob_verifications where sha256 = $1 for update', [sha256]);
      // statements after the lock see every claim committed before it (read committed takes a new snapshot)
      const [inUse] = await tx.query<{ referenced: boolean; claimed: boolean }>(
        `select exists (select 1 from model_version_files where sha256 = $1) as referenced,
                exists (select 1 from blob_claims where sha256 = $1 and upload_id <> $2
                                                    and claimed_at > now() - interval '${STALE_CLAIM}') as claimed`,
        [sha256, uploadId],
      );
      if (inUse.referenced || inUse.claimed) return false;
      await tx.query('delete from blob_verifications where sha256 = $1', [sha256]);
      await removeObject();
      return true;
    });
  }

  /** Drops claims left by uploads whose process died. */
  async dropStaleClaims(): Promise<number> {
    const rows = await this.db.query(`delete from blob_claims where claimed_at < now() - interval '${STALE_CLAIM}' returning sha256`);
    return rows.length;
  }
}
