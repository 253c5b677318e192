import { Injectable } from '@nestjs/common';
import type { ModelManifest, Signature } from '@edgeloop/contracts';
import { SqlDatabase, type SqlExecutor } from '../database/sql-database';

export interface ModelSummary {
  name: string;
  createdAt: string;
  latestVersion: number | null;
  versions: number;
  aliases: Record<string, number>;
}

export interface VersionRecord {
  name: string;
  version: number;
  parent: number | null;
  manifest: ModelManifest;
  signature: Signature;
  createdBy: string | null;
  createdAt: string;
}

/** A version number held for one model in a transaction (its model row locked until the transaction ends). */
export interface VersionSlot {
  modelId: string;
  name: string;
  version: number;
}

export interface NewVersion {
  parent: number | null;
  createdBy: string;
  manifest: ModelManifest;
  signature: Signature;
  files: Array<{ role: string; sha256: string; size: number; format: string; fileName?: string }>;
}

interface VersionRow {
  name: string;
  version: number;
  parent: number | null;
  manifest: ModelManifest | string;
  signature: Signature | string;
  created_by: string | null;
  created_at: Date | string;
}

/** Models, versions, their files and aliases in SQL. */
@Injectable()
export class ModelRepository {
  constructor(private readonly db: SqlDatabase) {}

  async listModels(): Promise<ModelSummary[]> {
    const rows = await this.db.query<{
      name: string;
      created_at: Date | string;
      latest: number | null;
      versions: string | number;
      aliases: Record<string, number> | string | null;
    }>(
      `select m.name, m.created_at,
              (select max(v.version) from model_versions v where v.model_id = m.id) as latest,
              (select count(*) from model_versions v where v.model_id = m.id) as versions,
              (select jsonb_object_agg(a.alias, a.version) from model_aliases a where a.model_id = m.id) as aliases
         from models m order by m.name`,
    );
    return rows.map((r) => ({
      name: r.name,
      createdAt: iso(r.created_at),
      latestVersion: r.latest === null ? null : Number(r.latest),
      versions: Number(r.versions),
      aliases: json(r.aliases) ?? {},
    }));
  }

  async modelExists(name: string): Promise<boolean> {
    return (await this.db.query('select 1 from models where name = $1', [name])).length > 0;
  }

  async listVersions(name: string): Promise<VersionRecord[]> {
    const rows = await this.db.query<VersionRow>(
      `select m.name, v.version, v.parent, v.manifest, v.signature, v.created_by, v.created_at
         from model_versions v join models m on m.id = v.model_id
        where m.name = $1 order by v.version`,
      [name],
    );
    return rows.map(toVersion);
  }

  async getVersion(name: string, version: number, tx: SqlExecutor = this.db): Promise<VersionRecord | undefined> {
    const rows = await tx.query<VersionRow>(
      `select m.name, v.version, v.parent, v.manifest, v.signature, v.created_by, v.created_at
         from model_versions v join models m on m.id = v.model_id
        where m.name = $1 and v.version = $2`,
      [name, version],
    );
    return rows[0] ? toVersion(rows[0]) : undefined;
  }

  async resolveAlias(name: string, alias: string): Promise<number | undefined> {
    const rows = await this.db.query<{ version: number }>(
      `select a.version from model_aliases a join models m on m.id = a.model_id where m.name = $1 and a.alias = $2`,
      [name, alias],
    );
    return rows[0] ? Number(rows[0].version) : undefined;
  }

  async listAliases(name: string): Promise<Record<string, number>> {
    const rows = await this.db.query<{ alias: string; version: number }>(
      `select a.alias, a.version from model_aliases a join models m on m.id = a.model_id where m.name = $1 order by a.alias`,
      [name],
    );
    return Object.fromEntries(rows.map((r) => [r.alias, Number(r.version)]));
  }

  async setAlias(tx: SqlExecutor, name: string, alias: string, version: number): Promise<void> {
    await tx.query(
      `insert into model_aliases (model_id, alias, version)
       select m.id, $2, $3 from models m where m.name = $1
       on conflict (model_id, alias) do update set version = excluded.version, updated_at = now()`,
      [name, alias, version],
    );
  }

  async deleteAlias(tx: SqlExecutor, name: string, alias: string): Promise<boolean> {
    const rows = await tx.query(
      `delete from model_aliases a using models m where a.model_id = m.id and m.name = $1 and a.alias = $2 returning a.alias`,
      [name, alias],
    );
    return rows.length > 0;
  }

  /**
   * The next version number of a model, in the caller's transaction; the model is created when new. Its row is
   * locked first, so concurrent registrations of one model queue here and get consecutive numbers with no gap.
   */
  async reserveVersion(tx: SqlExecutor, name: string): Promise<VersionSlot> {
    await tx.query('insert into models (name) values ($1) on conflict (name) do nothing', [name]);
    const [model] = await tx.query<{ id: string }>('select id from models where name = $1 for update', [name]);
    const [{ next }] = await tx.query<{ next: number }>('select coalesce(max(version), 0) + 1 as next from model_versions where model_id = $1', [
      model.id,
    ]);
    return { modelId: model.id, name, version: Number(next) };
  }

  /** Registers the version of a reserved slot with its signed manifest and files, in the same transaction. */
  async insertVersion(tx: SqlExecutor, slot: VersionSlot, next: NewVersion): Promise<VersionRecord> {
    const [row] = await tx.query<{ id: string; created_at: Date | string }>(
      `insert into model_versions (model_id, version, parent, manifest, signature, created_by)
       values ($1, $2, $3, $4, $5, $6) returning id, created_at`,
      [slot.modelId, slot.version, next.parent, JSON.stringify(next.manifest), JSON.stringify(next.signature), next.createdBy],
    );
    for (const file of next.files) {
      await tx.query('insert into blobs (sha256, size) values ($1, $2) on conflict (sha256) do nothing', [file.sha256, file.size]);
      await tx.query(
        `insert into model_version_files (version_id, role, sha256, size, format, file_name) values ($1, $2, $3, $4, $5, $6)`,
        [row.id, file.role, file.sha256, file.size, file.format, file.fileName ?? null],
      );
    }
    return {
      name: slot.name,
      version: slot.version,
      parent: next.parent,
      manifest: next.manifest,
      signature: next.signature,
      createdBy: next.createdBy,
      createdAt: iso(row.created_at),
    };
  }

  /** Whether any registered version references the blob. */
  async blobReferenced(sha256: string): Promise<boolean> {
    return (await this.db.query('select 1 from model_version_files where sha256 = $1 limit 1', [sha256])).length > 0;
  }

  async blobSize(sha256: string): Promise<number | undefined> {
    const rows = await this.db.query<{ size: string }>('select size from blobs where sha256 = $1', [sha256]);
    return rows[0] ? Number(rows[0].size) : undefined;
  }

  async countVersions(name: string): Promise<number> {
    const [row] = await this.db.query<{ n: string }>(
      'select count(*) as n from model_versions v join models m on m.id = v.model_id where m.name = $1',
      [name],
    );
    return Number(row.n);
  }
}

function toVersion(r: VersionRow): VersionRecord {
  return {
    name: r.name,
    version: Number(r.version),
    parent: r.parent === null ? null : Number(r.parent),
    manifest: json(r.manifest) as ModelManifest,
    signature: json(r.signature) as Signature,
    createdBy: r.created_by,
    createdAt: iso(r.created_at),
  };
}

export function iso(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}

export function json<T>(value: T | string | null): T | null {
  if (value === null) return null;
  return typeof value === 'string' ? (JSON.parse(value) as T) : value;
}
