import { Injectable } from '@nestjs/common';
import { Packr } from 'msgpackr';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { predictionBatchKey, type ModelVersionRef, type PredictionBatch } from '@edgeloop/contracts';
import { mergeWindowStats, parseWindowStats, type WindowStats } from '@edgeloop/drift';
import type { SqlExecutor } from '../database/sql-database';
import { SqlDatabase } from '../database/sql-database';
import { BlobRepository } from './blob.repository';
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

/** A batch to record: its dedupe key fields, when it arrived, and where its raw payload was kept (if it was). */
export interface BatchRecord {
  batch: PredictionBatch;
  receivedAt: Date;
  /** `s3:<key>#<index>` of the raw payload in a raw batch object (`RAW_BATCHES_PREFIX`), or null when not kept. */
  rawRef: string | null;
}

/** One raw payload for a raw batch object. */
export interface RawBatchEntry {
  deviceId: string;
  epoch: string;
  seq: number;
  receivedAt: number;
  /** The MQTT payload as it came (JSON or the columns encoding). */
  payload: Uint8Array;
}

/** Raw payloads are kept in S3 as objects of many batches each, one folder per UTC hour (pruned by folder). */
export const RAW_BATCHES_PREFIX = 'raw/predictions/';

const HOUR_MS = 3_600_000;
/** Hour folders of raw batch objects looked at by the first prune after a start. */
const RAW_PRUNE_LOOKBACK_HOURS = 24 * 7;

const rawPacker = new Packr({ useRecords: false, mapsAsObjects: true });

/**
 * Prediction batches (dedupe key and where the raw payload is), the raw payloads themselves (S3 objects of
 * many batches: `RAW_BATCHES_PREFIX<yyyy-mm-ddThh>/<ms>-<random>.msgpack`, a MessagePack array of
 * `{ deviceId, epoch, seq, receivedAt, payload }`), per-bucket aggregates and ingest counters in SQL.
 */
@Injectable()
export class PredictionRepository {
  constructor(
    private readonly db: SqlDatabase,
    private readonly blobs: BlobRepository,
  ) {}

  /**
   * Writes the raw payloads of one group of batches as one S3 object and returns the ref of each entry, in
   * order. Written before the group's transaction: a transaction that then fails leaves an object nothing
   * refers to, removed with its hour folder.
   */
  async putRawBatches(entries: RawBatchEntry[], now = new Date()): Promise<string[]> {
    if (entries.length === 0) return [];
    const hour = now.toISOString().slice(0, 13);
    const key = `${RAW_BATCHES_PREFIX}${hour}/${now.getTime()}-${randomBytes(6).toString('hex')}.msgpack`;
    const body = rawPacker.pack(entries);
    await this.blobs.putStream(key, Readable.from([body]), body.length);
    return entries.map((_, index) => `s3:${key}#${index}`);
  }

  /** The raw payload a `rawRef` points at (tests and operators; not on the ingest path). */
  async rawPayload(rawRef: string): Promise<RawBatchEntry | undefined> {
    const match = /^s3:(.+)#(\d+)$/.exec(rawRef);
    if (!match) return undefined;
    const object = await this.blobs.getSmall(match[1]!, 64 * 1024 ** 2);
    if (!object) return undefined;
    return (rawPacker.unpack(object) as RawBatchEntry[])[Number(match[2])];
  }

  /**
   * Records several batches by (device, epoch, seq) in one statement — a batch without an epoch has the
   * empty one — and returns the keys (`predictionBatchKey`) that were new, with the ref of each one's raw payload.
   */
  async recordBatches(tx: SqlExecutor, batches: BatchRecord[]): Promise<Set<string>> {
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
        batches.map((b) => b.rawRef),
        batches.map((b) => b.batch.epoch ?? ''),
      ],
    );
    return new Set(rows.map((r) => predictionBatchKey({ deviceId: r.device_id, epoch: r.epoch, seq: Number(r.seq) })));
  }

  /**
   * Adds each entry's `stats` into the aggregate row of its key, in three statements whatever the number
   * of rows: create the missing rows empty, lock them all (`select … for update`, in one order, so that
   * concurrent transactions queue instead of deadlocking), write the sums back in one multi-row update.
   */
  async mergeAggregates(tx: SqlExecutor, entries: Array<{ key: AggregateKey; stats: WindowStats }>): Promise<void> {
    if (entries.length === 0) return;
    const sorted = [...entries].sort((a, b) => compareKeys(a.key, b.key));
    const keyParams = [
      sorted.map((e) => e.key.model.name),
      sorted.map((e) => e.key.model.version),
      sorted.map((e) => e.key.deviceId),
      sorted.map((e) => e.key.bucketStart),
    ];
    await tx.query(
      `insert into prediction_aggregates (model_name, model_version, device_id, bucket_start, frames, faces, stats)
       select m, v, d, b, 0, 0, 'null'::jsonb from unnest($1::text[], $2::int[], $3::text[], $4::timestamptz[]) as u(m, v, d, b)
       on conflict (model_name, model_version, device_id, bucket_start) do nothing`,
      keyParams,
    );
    const rows = await tx.query<{ model_name: string; model_version: number; device_id: string; bucket_start: Date | string; stats: WindowStats | string | null }>(
      `select a.model_name, a.model_version, a.device_id, a.bucket_start, a.stats from prediction_aggregates a
         join unnest($1::text[], $2::int[], $3::text[], $4::timestamptz[]) as u(m, v, d, b)
           on a.model_name = u.m and a.model_version = u.v and a.device_id = u.d and a.bucket_start = u.b
        order by a.model_name collate "C", a.model_version, a.device_id collate "C", a.bucket_start
        for update of a`,
      keyParams,
    );
    const stored = new Map(rows.map((r) => [keyName({ deviceId: r.device_id, model: { name: r.model_name, version: Number(r.model_version) }, bucketStart: new Date(r.bucket_start) }), json(r.stats)]));
    const merged = sorted.map((e) => {
      const row = stored.get(keyName(e.key));
      return row ? mergeWindowStats(parseWindowStats(row), e.stats) : e.stats;
    });
    await tx.query(
      `update prediction_aggregates a set frames = u.f, faces = u.fa, stats = u.s::jsonb, updated_at = now()
         from unnest($1::text[], $2::int[], $3::text[], $4::timestamptz[], $5::bigint[], $6::bigint[], $7::text[]) as u(m, v, d, b, f, fa, s)
        where a.model_name = u.m and a.model_version = u.v and a.device_id = u.d and a.bucket_start = u.b`,
      [...keyParams, merged.map((m) => m.frames), merged.map((m) => m.faces), merged.map((m) => JSON.stringify(m, compactSums))],
    );
  }

  async aggregates(filter: AggregateFilter): Promise<AggregateRow[]> {
    // only the filters given, so the planner can use an index for them (a generic plan of
    // `($1 is null or model_name = $1)` reads the whole table)
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (condition: (p: string) => string, value: unknown) => {
      params.push(value);
      where.push(condition(`$${params.length}`));
    };
    if (filter.model != null) add((p) => `model_name = ${p}`, filter.model);
    if (filter.version != null) add((p) => `model_version = ${p}::int`, filter.version);
    if (filter.devices != null) add((p) => `device_id = any(${p}::text[])`, filter.devices);
    if (filter.from != null) add((p) => `bucket_start >= ${p}::timestamptz`, filter.from);
    if (filter.to != null) add((p) => `bucket_start < ${p}::timestamptz`, filter.to);
    const rows = await this.db.query<{
      device_id: string;
      model_name: string;
      model_version: number;
      bucket_start: Date | string;
      stats: WindowStats | string;
    }>(
      `select device_id, model_name, model_version, bucket_start, stats from prediction_aggregates
        ${where.length ? `where ${where.join(' and ')}` : ''}
        order by bucket_start, model_name, model_version, device_id`,
      params,
    );
    return rows.filter((r) => json(r.stats) !== null).map((r) => ({
      deviceId: r.device_id,
      model: { name: r.model_name, version: Number(r.model_version) },
      bucketStart: new Date(r.bucket_start),
      stats: parseWindowStats(json(r.stats)),
    }));
  }

  /** Model versions with aggregates since `since` (a range of the bucket index, not the whole table). */
  async activeVersions(since: Date): Promise<Array<{ model: ModelVersionRef }>> {
    const rows = await this.db.query<{ model_name: string; model_version: number }>(
      'select distinct model_name, model_version from prediction_aggregates where bucket_start >= $1',
      [since],
    );
    return rows.map((r) => ({ model: { name: r.model_name, version: Number(r.model_version) } }));
  }

  async firstBucket(model: ModelVersionRef): Promise<Date | undefined> {
    const [row] = await this.db.query<{ first: Date | string | null }>(
      'select min(bucket_start) as first from prediction_aggregates where model_name = $1 and model_version = $2',
      [model.name, model.version],
    );
    return row?.first ? new Date(row.first) : undefined;
  }

  /** Adds to several counters in one statement (names in one order, so concurrent transactions queue). */
  async incrementCounters(counts: Record<string, number>, tx: SqlExecutor = this.db): Promise<void> {
    const names = Object.keys(counts)
      .filter((name) => counts[name]! > 0)
      .sort();
    if (names.length === 0) return;
    await tx.query(
      `insert into ingest_counters (name, value) select * from unnest($1::text[], $2::bigint[])
       on conflict (name) do update set value = ingest_counters.value + excluded.value`,
      [names, names.map((name) => counts[name])],
    );
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

  /**
   * Raw payloads older than the retention are dropped — their refs (or inline payloads of older versions)
   * cleared, the S3 objects of every hour folder wholly before `rawBefore` removed; the (device, epoch, seq)
   * keys stay for dedupe longer.
   */
  async prune(rawBefore: Date, keysBefore: Date): Promise<{ raw: number; keys: number; rawObjects: number }> {
    const raw = await this.db.query('update prediction_batches set payload = null where payload is not null and received_at < $1 returning seq', [rawBefore]);
    const keys = await this.db.query('delete from prediction_batches where received_at < $1 returning seq', [keysBefore]);
    let rawObjects = 0;
    // hour folders wholly before rawBefore, from the one after the last pruned (a week back after a start)
    const lastWholeHour = Math.floor(rawBefore.getTime() / HOUR_MS) - 1;
    for (let hour = Math.max(this.prunedThroughHour + 1, lastWholeHour - RAW_PRUNE_LOOKBACK_HOURS); hour <= lastWholeHour; hour++) {
      const folder = `${RAW_BATCHES_PREFIX}${new Date(hour * HOUR_MS).toISOString().slice(0, 13)}/`;
      for (const key of await this.blobs.keysOlderThan(folder, rawBefore)) {
        await this.blobs.remove(key);
        rawObjects++;
      }
      this.prunedThroughHour = hour;
    }
    return { raw: raw.length, keys: keys.length, rawObjects };
  }

  private prunedThroughHour = -Infinity;
}

/** Centroid sums rounded to 4 decimals in the stored row: a third of its JSON, no loss that a cosine notices. */
function compactSums(key: string, value: unknown): unknown {
  return key === 'sum' && Array.isArray(value) ? value.map((x: number) => Math.round(x * 1e4) / 1e4) : value;
}

/** The aggregate key's sort order (byte order, as `collate "C"` in SQL) and its name in maps. */
function compareKeys(a: AggregateKey, b: AggregateKey): number {
  return cmp(a.model.name, b.model.name) || a.model.version - b.model.version || cmp(a.deviceId, b.deviceId) || a.bucketStart.getTime() - b.bucketStart.getTime();
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function keyName(key: AggregateKey): string {
  return `${key.model.name}|${key.model.version}|${key.deviceId}|${key.bucketStart.getTime()}`;
}
