import { Injectable } from '@nestjs/common';
import type { HardExample, HardExampleLabel, HardExampleReason, ModelVersionRef } from '@edgeloop/contracts';
import { SqlDatabase, type SqlExecutor } from '../database/sql-database';
import { iso, json } from './model.repository';

export interface HardExampleRecord {
  id: string;
  deviceId: string;
  model: ModelVersionRef;
  reason: HardExampleReason;
  candidate: string | null;
  score: number | null;
  margin: number | null;
  detScore: number;
  capturedAt: string;
  receivedAt: string;
  cropKey: string | null;
  label: (HardExampleLabel & { labeledAt: string; labeledBy: string | null }) | null;
  embedding?: number[];
}

interface Row {
  id: string;
  device_id: string;
  model_name: string;
  model_version: number;
  reason: HardExampleReason;
  candidate: string | null;
  score: number | null;
  margin: number | null;
  det_score: number;
  captured_at: Date | string;
  received_at: Date | string;
  crop_key: string | null;
  label: string | null;
  not_a_face: boolean;
  labelled_by: string | null;
  labelled_at: Date | string | null;
  embedding?: number[] | string;
}

export interface HardExampleFilter {
  model?: string;
  version?: number;
  device?: string;
  reason?: HardExampleReason;
  labelled?: boolean;
  limit: number;
}

/** Hard examples: embedding in SQL, crop (when sent) in S3 under the sha256 of its bytes; labels for retraining. */
@Injectable()
export class HardExampleRepository {
  constructor(private readonly db: SqlDatabase) {}

  /** Stores an example once per (device, example id); false when it was already stored. */
  async insert(example: HardExample, cropKey: string | null, receivedAt: Date, tx: SqlExecutor = this.db): Promise<boolean> {
    const rows = await tx.query(
      `insert into hard_examples (id, device_id, example_id, model_name, model_version, reason, candidate, det_score, score, margin,
                                  embedding, crop_key, captured_at, received_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
       on conflict (device_id, example_id) do nothing returning id`,
      [
        hardExampleId(example.deviceId, example.id),
        example.deviceId,
        example.id,
        example.model.name,
        example.model.version,
        example.reason,
        example.candidate,
        example.detScore,
        example.score,
        example.margin,
        JSON.stringify(example.embedding),
        cropKey,
        new Date(example.ts),
        receivedAt,
      ],
    );
    return rows.length > 0;
  }

  async list(filter: HardExampleFilter): Promise<HardExampleRecord[]> {
    const rows = await this.db.query<Row>(
      `select id, device_id, model_name, model_version, reason, candidate, score, margin, det_score, captured_at, received_at,
              crop_key, label, not_a_face, labelled_by, labelled_at
         from hard_examples
        where ($1::text is null or model_name = $1) and ($2::int is null or model_version = $2)
          and ($3::text is null or device_id = $3) and ($4::text is null or reason = $4)
          and ($5::boolean is null or ((label is not null or not_a_face or unknown_confirmed_at is not null) = $5))
        order by received_at desc, id limit $6`,
      [filter.model ?? null, filter.version ?? null, filter.device ?? null, filter.reason ?? null, filter.labelled ?? null, filter.limit],
    );
    return rows.map(toRecord);
  }

  async get(id: string): Promise<HardExampleRecord | undefined> {
    const rows = await this.db.query<Row>('select * from hard_examples where id = $1', [id]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async label(id: string, label: HardExampleLabel, actor: string | null): Promise<boolean> {
    const rows = await this.db.query(
      `update hard_examples set label = $2, not_a_face = $3, labelled_by = $4, labelled_at = now() where id = $1 returning id`,
      [id, label.verdict === 'identity' ? label.identity : null, label.verdict === 'not_a_face', actor],
    );
    return rows.length > 0;
  }

  /** Labelled identity examples with their embeddings, for retraining. */
  async labelledEmbeddings(modelName: string): Promise<Array<{ label: string; embedding: number[] }>> {
    const rows = await this.db.query<{ label: string; embedding: number[] | string }>(
      'select label, embedding from hard_examples where model_name = $1 and label is not null order by id',
      [modelName],
    );
    return rows.map((r) => ({ label: r.label, embedding: json(r.embedding) as number[] }));
  }
}

export function hardExampleId(deviceId: string, exampleId: string): string {
  return `${deviceId}.${exampleId}`;
}

function toRecord(r: Row): HardExampleRecord {
  return {
    id: r.id,
    deviceId: r.device_id,
    model: { name: r.model_name, version: Number(r.model_version) },
    reason: r.reason,
    candidate: r.candidate,
    score: r.score,
    margin: r.margin,
    detScore: r.det_score,
    capturedAt: iso(r.captured_at),
    receivedAt: iso(r.received_at),
    cropKey: r.crop_key,
    label: r.labelled_at
      ? {
          ...(r.not_a_face ? { verdict: 'not_a_face' as const } : { verdict: 'identity' as const, identity: r.label! }),
          labeledAt: iso(r.labelled_at),
          labeledBy: r.labelled_by,
        }
      : null,
  };
}
