import { Injectable } from '@nestjs/common';
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

interface Row {
  id: string;
  device_id: string;
  model_name: string;
  model_version: number;
  captured_at: Date | string;
  label: string | null;
  not_a_face: boolean;
  labelled_at: Date | string | null;
  unknown_confirmed_at: Date | string | null;
  embedding: number[] | string;
  crop_key: string | null;
}

/** Rows per page of `labelled`: PGlite spends ≈ 1.5 ms of the event loop on a row of 512-value jsonb at load 20, so ≈ 50 ms a page. */
const LABELLED_PAGE = 32;

const COLUMNS = 'id, device_id, model_name, model_version, captured_at, label, not_a_face, labelled_at, unknown_confirmed_at, embedding, crop_key';

/**
 * The `hard_examples` table read as training data, and labelled many at a time. (Storing examples from
 * devices and the one-at-a-time labelling queue stay in HardExampleRepository.)
 */
@Injectable()
export class HardExampleTrainingRepository {
  constructor(private readonly db: SqlDatabase) {}

  /**
   * Every labelled example (identity, not a face, confirmed unknown) of a model, oldest first. Read in pages
   * of `LABELLED_PAGE` rows by id, yielding to the event loop between pages: one query over thousands of
   * 512-value embeddings would hold the thread (PGlite runs on it) for seconds.
   */
  async labelled(modelName: string): Promise<HardExampleSample[]> {
    const samples: HardExampleSample[] = [];
    for (let after = ''; ;) {
      const rows = await this.db.query<Row>(
        `select ${COLUMNS} from hard_examples
          where model_name = $1 and (labelled_at is not null or unknown_confirmed_at is not null) and id > $2
          order by id limit ${LABELLED_PAGE}`,
        [modelName, after],
      );
      for (const row of rows) samples.push(toSample(row));
      if (rows.length < LABELLED_PAGE) break;
      after = rows[rows.length - 1].id;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return samples.sort((a, b) => a.capturedAt - b.capturedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
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
    embedding: Float32Array.from(json(r.embedding) as number[]),
    cropKey: r.crop_key,
  };
}
