import { Injectable } from '@nestjs/common';
import { SqlDatabase } from '../database/sql-database';

/** Rows removed in one statement at most, so a first sweep over a large backlog does not hold one huge transaction. */
const CHUNK = 5000;

/**
 * The SQL side of retention for what devices send: unlabelled hard examples (labelled ones and confirmed
 * unknowns are an operator's work and training data: never removed here) and raw prediction payloads.
 */
@Injectable()
export class RetentionRepository {
  constructor(private readonly db: SqlDatabase) {}

  /**
   * Deletes up to CHUNK unlabelled hard examples received before `before`, or beyond the newest `maxRows`
   * unlabelled ones; returns the crop keys no remaining row refers to.
   */
  async deleteHardExamples(before: Date, maxRows: number): Promise<{ deleted: number; orphanCrops: string[] }> {
    const rows = await this.db.query<{ crop_key: string | null }>(
      `with cutoff as (
         select received_at from hard_examples where labelled_at is null and unknown_confirmed_at is null
          order by received_at desc offset $2 limit 1
       ), doomed as (
         select id from hard_examples
          where labelled_at is null and unknown_confirmed_at is null
            and (received_at < $1 or received_at <= (select received_at from cutoff))
          order by received_at
          limit $3
       )
       delete from hard_examples h using doomed where h.id = doomed.id returning h.crop_key`,
      [before, maxRows, CHUNK],
    );
    const keys = [...new Set(rows.map((r) => r.crop_key).filter((k): k is string => k !== null))];
    if (keys.length === 0) return { deleted: rows.length, orphanCrops: [] };
    const still = await this.db.query<{ crop_key: string }>('select distinct crop_key from hard_examples where crop_key = any($1::text[])', [keys]);
    const kept = new Set(still.map((r) => r.crop_key));
    return { deleted: rows.length, orphanCrops: keys.filter((k) => !kept.has(k)) };
  }

  /** Clears the raw payloads of all but the newest `maxRows` batches that still have one (their dedupe keys stay). */
  async capRawPayloads(maxRows: number): Promise<number> {
    const rows = await this.db.query(
      `with cutoff as (
         select received_at from prediction_batches where payload is not null order by received_at desc offset $1 limit 1
       )
       update prediction_batches set payload = null
        where payload is not null and received_at <= (select received_at from cutoff)
       returning seq`,
      [maxRows],
    );
    return rows.length;
  }
}
