import { Injectable } from '@nestjs/common';
import type { DriftDetectedSchema, ModelVersionRef } from '@edgeloop/contracts';
import { parseWindowStats, type DriftAlarmState, type WindowStats } from '@edgeloop/drift';
import type { z } from 'zod';
import { SqlDatabase, type SqlExecutor } from '../database/sql-database';
import { iso, json } from './model.repository';

export type DriftEventRecord = z.infer<typeof DriftDetectedSchema> & { detectedAt: string };

export interface DriftStateRecord {
  reference: WindowStats | null;
  referenceStart: Date | null;
  referenceEnd: Date | null;
  alarm: DriftAlarmState | null;
  lastWindowEnd: Date | null;
}

/** Per model version drift state (reference window, alarm) and the stored drift events. */
@Injectable()
export class DriftRepository {
  constructor(private readonly db: SqlDatabase) {}

  async state(model: ModelVersionRef): Promise<DriftStateRecord> {
    const [row] = await this.db.query<{
      reference: WindowStats | string | null;
      reference_start: Date | string | null;
      reference_end: Date | string | null;
      alarm: DriftAlarmState | string | null;
      last_window_end: Date | string | null;
    }>('select reference, reference_start, reference_end, alarm, last_window_end from drift_state where model_name = $1 and model_version = $2', [model.name, model.version]);
    if (!row) return { reference: null, referenceStart: null, referenceEnd: null, alarm: null, lastWindowEnd: null };
    return {
      reference: row.reference ? parseWindowStats(json(row.reference)) : null,
      referenceStart: row.reference_start ? new Date(row.reference_start) : null,
      referenceEnd: row.reference_end ? new Date(row.reference_end) : null,
      alarm: json(row.alarm),
      lastWindowEnd: row.last_window_end ? new Date(row.last_window_end) : null,
    };
  }

  /**
   * Stores the reference of a model version unless one is stored already (a check on another replica set it
   * first): a late check never replaces the reference, nor the alarm and last window that went with it.
   * True when this call stored it.
   */
  async saveReference(
    model: ModelVersionRef,
    reference: { stats: WindowStats; start: Date | null; end: Date | null },
    lastWindowEnd: Date | null,
  ): Promise<boolean> {
    const rows = await this.db.query(
      `insert into drift_state (model_name, model_version, reference, reference_start, reference_end, alarm, last_window_end)
       values ($1, $2, $3, $4, $5, null, $6)
       on conflict (model_name, model_version) do update set reference = excluded.reference, reference_start = excluded.reference_start,
         reference_end = excluded.reference_end, alarm = null, last_window_end = excluded.last_window_end, updated_at = now()
         where drift_state.reference is null
       returning model_name`,
      [model.name, model.version, JSON.stringify(reference.stats), reference.start, reference.end, lastWindowEnd],
    );
    return rows.length > 0;
  }

  /**
   * Saves the alarm and the last window end only if no other check advanced them since they were read
   * (compare-and-set on the last window end), and stores `event` in the same transaction: of two replicas
   * checking the same window, one raises its event and the other changes nothing. True when saved.
   */
  async advanceState(
    model: ModelVersionRef,
    expectedLastWindowEnd: Date | null,
    state: Pick<DriftStateRecord, 'alarm' | 'lastWindowEnd'>,
    event?: DriftEventRecord,
  ): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.query(
        `update drift_state set alarm = $4, last_window_end = $5, updated_at = now()
          where model_name = $1 and model_version = $2 and last_window_end is not distinct from $3::timestamptz
            and reference is not null
          returning model_name`,
        [model.name, model.version, expectedLastWindowEnd, state.alarm ? JSON.stringify(state.alarm) : null, state.lastWindowEnd],
      );
      if (rows.length === 0) return false;
      if (event) await this.insertEvent(event, tx);
      return true;
    });
  }

  async insertEvent(event: DriftEventRecord, tx: SqlExecutor = this.db): Promise<void> {
    await tx.query(
      `insert into drift_events (id, model_name, model_version, detected_at, window_start, window_end, devices, evidence, reference)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        event.driftEventId,
        event.model.name,
        event.model.version,
        new Date(event.detectedAt),
        new Date(event.window.start),
        new Date(event.window.end),
        JSON.stringify(event.devices),
        JSON.stringify(event.evidence),
        JSON.stringify(event.reference),
      ],
    );
  }

  async events(filter: { model?: string; version?: number; since?: Date; limit: number }): Promise<DriftEventRecord[]> {
    const rows = await this.db.query<{
      id: string;
      model_name: string;
      model_version: number;
      detected_at: Date | string;
      window_start: Date | string;
      window_end: Date | string;
      devices: string[] | string;
      evidence: DriftEventRecord['evidence'] | string;
      reference: DriftEventRecord['reference'] | string;
    }>(
      `select * from drift_events where ($1::text is null or model_name = $1) and ($2::int is null or model_version = $2)
          and ($3::timestamptz is null or detected_at >= $3) order by detected_at desc limit $4`,
      [filter.model ?? null, filter.version ?? null, filter.since ?? null, filter.limit],
    );
    return rows.map((r) => ({
      driftEventId: r.id,
      model: { name: r.model_name, version: Number(r.model_version) },
      detectedAt: iso(r.detected_at),
      window: { start: iso(r.window_start), end: iso(r.window_end) },
      devices: json(r.devices) as string[],
      evidence: json(r.evidence) as DriftEventRecord['evidence'],
      reference: json(r.reference) as DriftEventRecord['reference'],
    }));
  }
}
