import { Injectable } from '@nestjs/common';
import { predictionBatchKey, type ModelVersionRef, type PredictionBatch } from '@edgeloop/contracts';
import { mergeWindowStats, parseWindowStats, type WindowStats } from '@edgeloop/drift';
import type { SqlExecutor } from '../database/sql-database';
import { SqlDatabase } from '../database/sql-database';
import { json } from './model.repository';

export interface AggregateKey {
  deviceId: string;
  model: ModelVersionRef;
  bucketStart: Date;
}

export interface AggregateRow extends AggregateKey {
  stats: WindowStats;
}

export interface AggregateFilter {
  model?: string;
  version?: number;
  devices?: string[];
  from?: Date;
  to?: Date;
}

/** Prediction batches (dedupe key and raw store), per-bucket aggregates and ingest counters in SQL. */
@Injectable()
export class PredictionRepository {
  constructor(private readonly db: SqlDatabase) {}

  /**
   * Records several batches by (device, epoch, seq) in one statement — a batch without an epoch has the
   * empty one — and returns the keys (`predictionBatchKey`) that were new. The raw payload is kept as text
   * (no JSON parsing in SQL) when asked.
   */
  async recordBatches(tx: SqlExecutor, batches: Array<{ batch: PredictionBatch; receivedAt: Date }>, keepRaw: boolean): Promise<Set<string>> {
    if (batches.length === 0) return new Set();
    const rows = await tx.query<{ device_id: string; epoch: string; seq: string | number }>(
      `insert into prediction_batches (device_id, seq, model_name, model_version, window_start, received_at, items, payload, epoch)
       select * from unnest($1::text[], $2::bigint[], $3::text[], $4::int[], $5::timestamptz[], $6::timestamptz[], $7::int[], $8::text[], $9::text[])
       on conflict (device_id, epoch, seq) do nothing returning device_id, epoch, seq`,
      [
        batches.map((b) => b.batch.deviceId),
        batches.map((b) => b.batch.seq),
        batches.map((b) => b.batch.model.name),
        batches.map((b) => b.batch.model.version),
        batches.map((b) => new Date(b.batch.window.start)),
        batches.map((b) => b.receivedAt),
        batches.map((b) => b.batch.items.length),
        batches.map((b) => (keepRaw ? JSON.stringify(b.batch) : null)),
        batches.map((b) => b.batch.epoch ?? ''),
      ],
    );
    return new Set(rows.map((r) => predictionBatchKey({ deviceId: r.device_id, epoch: r.epoch, seq: Number(r.seq) })));
  }

  /**
   * Adds `stats` into the aggregate row of `key`. The row is created empty first and then locked, so two
   * transactions adding to the same (device, model, bucket) queue on the row lock instead of overwriting
   * each other's sums.
   */
  async mergeAggregate(tx: SqlExecutor, key: AggregateKey, stats: WindowStats): Promise<void> {
    const params = [key.model.name, key.model.version, key.deviceId, key.bucketStart];
    await tx.query(
      `insert into prediction_aggregates (model_name, model_version, device_id, bucket_start, frames, faces, stats)
       values ($1, $2, $3, $4, 0, 0, 'null'::jsonb) on conflict (model_name, model_version, device_id, bucket_start) do nothing`,
      params,
    );
    const [row] = await tx.query<{ stats: WindowStats | string | null }>(
      `select stats from prediction_aggregates where model_name = $1 and model_version = $2 and device_id = $3 and bucket_start = $4 for update`,
      params,
    );
    const stored = row ? json(row.stats) : null;
    const merged = stored ? mergeWindowStats(parseWindowStats(stored), stats) : stats;
    await tx.query(
      `update prediction_aggregates set frames = $5, faces = $6, stats = $7, updated_at = now()
        where model_name = $1 and model_version = $2 and device_id = $3 and bucket_start = $4`,
      [...params, merged.frames, merged.faces, JSON.stringify(merged, compactSums)],
    );
  }

  async aggregates(filter: AggregateFilter): Promise<AggregateRow[]> {
    const rows = await this.db.query<{
      device_id: string;
      model_name: string;
      model_version: number;
      bucket_start: Date | string;
      stats: WindowStats | string;
    }>(
      `select device_id, model_name, model_version, bucket_start, stats from prediction_aggregates
        where ($1::text is null or model_name = $1) and ($2::int is null or model_version = $2)
          and ($3::text[] is null or device_id = any($3::text[]))
          and ($4::timestamptz is null or bucket_start >= $4) and ($5::timestamptz is null or bucket_start < $5)
        order by bucket_start, model_name, model_version, device_id`,
      [filter.model ?? null, filter.version ?? null, filter.devices ?? null, filter.from ?? null, filter.to ?? null],
    );
    return rows.filter((r) => json(r.stats) !== null).map((r) => ({
      deviceId: r.device_id,
      model: { name: r.model_name, version: Number(r.model_version) },
      bucketStart: new Date(r.bucket_start),
      stats: parseWindowStats(json(r.stats)),
    }));
  }

  /** Model versions with aggregates since `since`, and the devices that sent them. */
  async activeVersions(since: Date): Promise<Array<{ model: ModelVersionRef; first: Date }>> {
    const rows = await this.db.query<{ model_name: string; model_version: number; first: Date | string }>(
      `select model_name, model_version, min(bucket_start) as first from prediction_aggregates
        group by model_name, model_version having max(bucket_start) >= $1`,
      [since],
    );
    return rows.map((r) => ({ model: { name: r.model_name, version: Number(r.model_version) }, first: new Date(r.first) }));
  }

  async firstBucket(model: ModelVersionRef): Promise<Date | undefined> {
    const [row] = await this.db.query<{ first: Date | string | null }>(
      'select min(bucket_start) as first from prediction_aggregates where model_name = $1 and model_version = $2',
      [model.name, model.version],
    );
    return row?.first ? new Date(row.first) : undefined;
  }

  async incrementCounter(name: string, by = 1, tx: SqlExecutor = this.db): Promise<void> {
    await tx.query(
      'insert into ingest_counters (name, value) values ($1, $2) on conflict (name) do update set value = ingest_counters.value + excluded.value',
      [name, by],
    );
  }

  async counters(): Promise<Record<string, number>> {
    const rows = await this.db.query<{ name: string; value: string }>('select name, value from ingest_counters');
    return Object.fromEntries(rows.map((r) => [r.name, Number(r.value)]));
  }

  /** Raw payloads older than the retention are dropped; the (device, epoch, seq) keys stay for dedupe longer. */
  async prune(rawBefore: Date, keysBefore: Date): Promise<{ raw: number; keys: number }> {
    const raw = await this.db.query('update prediction_batches set payload = null where payload is not null and received_at < $1 returning seq', [rawBefore]);
    const keys = await this.db.query('delete from prediction_batches where received_at < $1 returning seq', [keysBefore]);
    return { raw: raw.length, keys: keys.length };
  }
}

/** Centroid sums rounded to 4 decimals in the stored row: a third of its JSON, no loss that a cosine notices. */
function compactSums(key: string, value: unknown): unknown {
  return key === 'sum' && Array.isArray(value) ? value.map((x: number) => Math.round(x * 1e4) / 1e4) : value;
}
