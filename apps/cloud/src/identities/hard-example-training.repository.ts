import { Injectable } from '@nestjs/common';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { ModelVersionRef } from '@edgeloop/contracts';
import { SqlDatabase, type SqlExecutor } from '../database/sql-database';
import { json } from '../repositories/model.repository';
import type { HardExampleVerdict } from '@edgeloop/contracts';

/** A hard example as training data: its verdict, where it came from, its device embedding and crop. */
export interface HardExampleSample {
  id: string;
  deviceId: string;
  model: ModelVersionRef;
  capturedAt: number;
  /** Identity label, or null for not-a-face and confirmed unknowns. */
  label: string | null;
  kind: 'identity' | 'not_a_face' | 'stranger' | 'unlabelled';
  /** The embedding the device computed with its model version's embedder. */
  embedding: Float32Array;
  cropKey: string | null;
}

interface MetaRow {
  id: string;
  device_id: string;
  model_name: string;
  model_version: number;
  captured_at: Date | string;
  label: string | null;
  not_a_face: boolean;
  labelled_at: Date | string | null;
  unknown_confirmed_at: Date | string | null;
  crop_key: string | null;
}

interface Row extends MetaRow {
  embedding: number[] | string | Float32Array;
}

/**
 * Rows per page of `labelled`'s first read: the rows without their embeddings. PGlite decodes a page on the
 * event loop (three timestamps a row): a page of 500 held it 80–120 ms at load 12, so every API answer too.
 */
const LABELLED_PAGE = 200;

/**
 * Embeddings per query of `labelled`'s second read: PGlite spends ≈ 1.5–2 ms of the event loop on a row of
 * 512-value jsonb at load 20–30 (measured alone: 2,000 rows in 3.8–5.0 s), so ≈ 30 ms a query here.
 */
const EMBEDDING_PAGE = 16;

/** Embeddings `labelled` keeps in memory between runs (float32: 2 KiB each at 512 values, so ≤ 32 MiB). */
export const MAX_CACHED_EMBEDDINGS = 16_384;

/**
 * Rows `labelled` handles in memory per turn of the event loop (cache look-ups, building samples): 11,000
 * rows in one go held the loop 40–140 ms (load 7–9), so every answer of the API waited that long.
 */
const ROWS_PER_TURN = 1000;

const META_COLUMNS = 'id, device_id, model_name, model_version, captured_at, label, not_a_face, labelled_at, unknown_confirmed_at, crop_key';
const COLUMNS = `${META_COLUMNS}, embedding`;

/**
 * The `hard_examples` table read as training data, and labelled many at a time. (Storing examples from
 * devices and the one-at-a-time labelling queue stay in HardExampleRepository.)
 */
@Injectable()
export class HardExampleTrainingRepository {
  /**
   * Device embeddings already read, by id and capture time: a stored example's embedding never changes (the
   * ingest inserts a row once and nothing updates the column), so a retrain reads from SQL only the
   * embeddings of examples labelled since the last one. Oldest entries leave first past the bound.
   */
  private readonly embeddingCache = new Map<string, Float32Array>();
  /** How many embeddings the cache keeps. */
  maxCachedEmbeddings = MAX_CACHED_EMBEDDINGS;

  constructor(private readonly db: SqlDatabase) {}

  /**
   * Every labelled example (identity, not a face, confirmed unknown) of a model, oldest first. Read in two
   * passes, each in pages with a yield to the event loop between them (PGlite runs on it): the rows without
   * their embeddings, then the embeddings not read before, a few at a time — one query over thousands of
   * 512-value embeddings would hold the thread for seconds.
   */
  async labelled(modelName: string): Promise<HardExampleSample[]> {
    const rows: MetaRow[] = [];
    for (let after = ''; ;) {
      const page = await this.db.query<MetaRow>(
        `select ${META_COLUMNS} from hard_examples
          where model_name = $1 and (labelled_at is not null or unknown_confirmed_at is not null) and id > $2
          order by id limit ${LABELLED_PAGE}`,
        [modelName, after],
      );
      rows.push(...page);
      if (page.length < LABELLED_PAGE) break;
      after = page[page.length - 1].id;
      await yieldToLoop();
    }
    const key = (r: MetaRow) => `${r.id}@${new Date(r.captured_at).getTime()}`;
    // this read's embeddings, held here until used: a bound smaller than the read cannot drop any of them
    const read = new Map<string, Float32Array>();
    const missing: MetaRow[] = [];
    for (const [i, row] of rows.entries()) {
      const cached = this.embeddingCache.get(key(row));
      if (cached) read.set(key(row), cached);
      else missing.push(row);
      if (i % ROWS_PER_TURN === ROWS_PER_TURN - 1) await yieldToLoop();
    }
    for (let i = 0; i < missing.length; i += EMBEDDING_PAGE) {
      const ids = missing.slice(i, i + EMBEDDING_PAGE).map((r) => r.id);
      const found = await this.db.query<{ id: string; captured_at: Date | string; embedding: number[] | string }>(
        'select id, captured_at, embedding from hard_examples where id = any($1::text[])',
        [ids],
      );
      for (const r of found) {
        const embedding = Float32Array.from(json(r.embedding) as number[]);
        read.set(`${r.id}@${new Date(r.captured_at).getTime()}`, embedding);
        this.remember(`${r.id}@${new Date(r.captured_at).getTime()}`, embedding);
      }
      await yieldToLoop();
    }
    const samples: HardExampleSample[] = [];
    for (const [i, row] of rows.entries()) {
      const embedding = read.get(key(row));
      // a row deleted between the two reads (retention) is left out, as if read a moment later
      if (embedding) samples.push(toSample({ ...row, embedding }));
      if (i % ROWS_PER_TURN === ROWS_PER_TURN - 1) await yieldToLoop();
    }
    return samples.sort((a, b) => a.capturedAt - b.capturedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private remember(key: string, embedding: Float32Array): void {
    this.embeddingCache.delete(key);
    this.embeddingCache.set(key, embedding);
    while (this.embeddingCache.size > this.maxCachedEmbeddings) this.embeddingCache.delete(this.embeddingCache.keys().next().value as string);
  }

  /** Unknown, unlabelled examples, newest first: the material of new-person clusters. */
  async unlabelledUnknowns(modelName: string, limit: number): Promise<HardExampleSample[]> {
    const rows = await this.db.query<Row>(
      `select ${COLUMNS} from hard_examples
        where model_name = $1 and reason = 'unknown' and labelled_at is null and unknown_confirmed_at is null
        order by captured_at desc, id limit $2`,
      [modelName, limit],
    );
    return rows.map(toSample);
  }

  /** Ids among `ids` that are not stored. */
  async missing(ids: string[], tx: SqlExecutor = this.db): Promise<string[]> {
    const rows = await tx.query<{ id: string }>('select id from hard_examples where id = any($1::text[])', [ids]);
    const found = new Set(rows.map((r) => r.id));
    return ids.filter((id) => !found.has(id));
  }

  async cropKeys(ids: string[]): Promise<Map<string, string | null>> {
    const rows = await this.db.query<{ id: string; crop_key: string | null }>('select id, crop_key from hard_examples where id = any($1::text[])', [ids]);
    return new Map(rows.map((r) => [r.id, r.crop_key]));
  }

  /** Sets one verdict on every id (the caller checked they exist, in the same transaction). */
  async label(tx: SqlExecutor, ids: string[], verdict: HardExampleVerdict, actor: string | null): Promise<number> {
    const rows =
      verdict.verdict === 'unknown'
        ? await tx.query(
            `update hard_examples set label = null, not_a_face = false, labelled_at = null, labelled_by = null,
                    unknown_confirmed_at = now(), unknown_confirmed_by = $2
              where id = any($1::text[]) returning id`,
            [ids, actor],
          )
        : await tx.query(
            `update hard_examples set label = $2, not_a_face = $3, labelled_by = $4, labelled_at = now(),
                    unknown_confirmed_at = null, unknown_confirmed_by = null
              where id = any($1::text[]) returning id`,
            [ids, verdict.verdict === 'identity' ? verdict.identity : null, verdict.verdict === 'not_a_face', actor],
          );
    return rows.length;
  }

  /** An identity renamed or merged: its labels follow. */
  async relabel(tx: SqlExecutor, from: string, to: string): Promise<void> {
    await tx.query('update hard_examples set label = $2 where label = $1', [from, to]);
  }

  /** An identity deleted: its labelled examples go back to the queue. */
  async unlabel(tx: SqlExecutor, label: string): Promise<void> {
    await tx.query('update hard_examples set label = null, labelled_at = null, labelled_by = null where label = $1', [label]);
  }
}

function toSample(r: Row): HardExampleSample {
  // the newer verdict wins (the one-at-a-time label route does not clear a confirmed unknown)
  const labelledAt = r.labelled_at ? new Date(r.labelled_at).getTime() : -Infinity;
  const strangerAt = r.unknown_confirmed_at ? new Date(r.unknown_confirmed_at).getTime() : -Infinity;
  const kind: HardExampleSample['kind'] =
    strangerAt > labelledAt ? 'stranger' : !r.labelled_at ? 'unlabelled' : r.not_a_face ? 'not_a_face' : r.label !== null ? 'identity' : 'unlabelled';
  return {
    id: r.id,
    deviceId: r.device_id,
    model: { name: r.model_name, version: Number(r.model_version) },
    capturedAt: new Date(r.captured_at).getTime(),
    label: kind === 'identity' ? r.label : null,
    kind,
    embedding: r.embedding instanceof Float32Array ? r.embedding : Float32Array.from(json(r.embedding) as number[]),
    cropKey: r.crop_key,
  };
}
