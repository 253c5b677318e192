import { Injectable } from '@nestjs/common';
import { SqlDatabase, type SqlExecutor } from '../database/sql-database';
import { iso } from '../repositories/model.repository';

export interface IdentityRecord {
  id: string;
  name: string;
  displayName: string | null;
  photos: number;
  createdAt: string;
  updatedAt: string;
}

export interface EnrolmentPhotoRecord {
  id: string;
  identityId: string;
  identityName: string;
  cropSha256: string;
  sourceName: string;
  sourceSize: number;
  detectionScore: number;
  createdAt: string;
}

interface IdentityRow {
  id: string;
  name: string;
  display_name: string | null;
  photos: number | string;
  created_at: Date | string;
  updated_at: Date | string;
}

interface PhotoRow {
  id: string;
  identity_id: string;
  identity_name: string;
  crop_sha256: string;
  source_name: string;
  source_size: number;
  detection_score: number;
  created_at: Date | string;
}

const IDENTITY_COLUMNS = `i.id, i.name, i.display_name, i.created_at, i.updated_at,
  (select count(*) from enrolment_photos p where p.identity_id = i.id) as photos`;
const PHOTO_COLUMNS = `p.id, p.identity_id, i.name as identity_name, p.crop_sha256, p.source_name, p.source_size, p.detection_score, p.created_at`;

/** Identities and their enrolment photos in SQL (the crops themselves are in S3). */
@Injectable()
export class IdentityRepository {
  constructor(readonly db: SqlDatabase) {}

  /** False when the name is taken. */
  async insert(id: string, name: string, displayName: string | null): Promise<boolean> {
    const rows = await this.db.query('insert into identities (id, name, display_name) values ($1, $2, $3) on conflict (name) do nothing returning id', [
      id,
      name,
      displayName,
    ]);
    return rows.length > 0;
  }

  async list(): Promise<IdentityRecord[]> {
    const rows = await this.db.query<IdentityRow>(`select ${IDENTITY_COLUMNS} from identities i order by i.name`);
    return rows.map(toIdentity);
  }

  async get(id: string, tx: SqlExecutor = this.db): Promise<IdentityRecord | undefined> {
    const rows = await tx.query<IdentityRow>(`select ${IDENTITY_COLUMNS} from identities i where i.id = $1`, [id]);
    return rows[0] ? toIdentity(rows[0]) : undefined;
  }

  async getByName(name: string, tx: SqlExecutor = this.db): Promise<IdentityRecord | undefined> {
    const rows = await tx.query<IdentityRow>(`select ${IDENTITY_COLUMNS} from identities i where i.name = $1`, [name]);
    return rows[0] ? toIdentity(rows[0]) : undefined;
  }

  /** Existing identity names among `names`. */
  async existingNames(names: string[], tx: SqlExecutor = this.db): Promise<Set<string>> {
    const rows = await tx.query<{ name: string }>('select name from identities where name = any($1::text[])', [names]);
    return new Set(rows.map((r) => r.name));
  }

  async update(tx: SqlExecutor, id: string, change: { name?: string; displayName?: string | null }): Promise<void> {
    await tx.query(
      `update identities set name = coalesce($2, name), display_name = case when $3::boolean then $4 else display_name end, updated_at = now()
        where id = $1`,
      [id, change.name ?? null, change.displayName !== undefined, change.displayName ?? null],
    );
  }

  async touch(tx: SqlExecutor, id: string): Promise<void> {
    await tx.query('update identities set updated_at = now() where id = $1', [id]);
  }

  async delete(tx: SqlExecutor, id: string): Promise<void> {
    await tx.query(`delete from embeddings where owner_kind = 'photo' and owner_id in (select id from enrolment_photos where identity_id = $1)`, [id]);
    await tx.query('delete from identities where id = $1', [id]);
  }

  /** Moves every photo of `fromId` to `toId`. */
  async movePhotos(tx: SqlExecutor, fromId: string, toId: string): Promise<number> {
    const rows = await tx.query('update enrolment_photos set identity_id = $2 where identity_id = $1 returning id', [fromId, toId]);
    return rows.length;
  }

  async insertPhoto(photo: Omit<EnrolmentPhotoRecord, 'createdAt' | 'identityName'>, tx: SqlExecutor = this.db): Promise<void> {
    await tx.query(`insert into enrolment_photos (id, identity_id, crop_sha256, source_name, source_size, detection_score) values ($1, $2, $3, $4, $5, $6)`, [
      photo.id,
      photo.identityId,
      photo.cropSha256,
      photo.sourceName,
      photo.sourceSize,
      photo.detectionScore,
    ]);
  }

  async listPhotos(identityId?: string): Promise<EnrolmentPhotoRecord[]> {
    const rows = await this.db.query<PhotoRow>(
      `select ${PHOTO_COLUMNS} from enrolment_photos p join identities i on i.id = p.identity_id
        where ($1::text is null or p.identity_id = $1) order by i.name, p.created_at, p.id`,
      [identityId ?? null],
    );
    return rows.map(toPhoto);
  }

  async getPhoto(identityId: string, photoId: string): Promise<EnrolmentPhotoRecord | undefined> {
    const rows = await this.db.query<PhotoRow>(
      `select ${PHOTO_COLUMNS} from enrolment_photos p join identities i on i.id = p.identity_id where p.identity_id = $1 and p.id = $2`,
      [identityId, photoId],
    );
    return rows[0] ? toPhoto(rows[0]) : undefined;
  }

  async deletePhoto(tx: SqlExecutor, photoId: string): Promise<void> {
    await tx.query(`delete from embeddings where owner_kind = 'photo' and owner_id = $1`, [photoId]);
    await tx.query('delete from enrolment_photos where id = $1', [photoId]);
  }

  /** Photos still using a crop (it is shared when the same face was enrolled twice). */
  async cropUsers(sha256: string): Promise<number> {
    const rows = await this.db.query<{ n: number | string }>('select count(*) as n from enrolment_photos where crop_sha256 = $1', [sha256]);
    return Number(rows[0]?.n ?? 0);
  }
}

function toIdentity(r: IdentityRow): IdentityRecord {
  return {
    id: r.id,
    name: r.name,
    displayName: r.display_name,
    photos: Number(r.photos),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

function toPhoto(r: PhotoRow): EnrolmentPhotoRecord {
  return {
    id: r.id,
    identityId: r.identity_id,
    identityName: r.identity_name,
    cropSha256: r.crop_sha256,
    sourceName: r.source_name,
    sourceSize: Number(r.source_size),
    detectionScore: Number(r.detection_score),
    createdAt: iso(r.created_at),
  };
}
