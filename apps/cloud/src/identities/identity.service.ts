import { Injectable, Logger } from '@nestjs/common';
import type { EnrolmentResult, ModelReference } from '@edgeloop/contracts';
import { randomBytes } from 'node:crypto';
import { ConflictError, DomainError, NotFoundError } from '../errors/domain.errors';
import { DomainEvents } from '../events/domain-events';
import { AuditRepository } from '../repositories/audit.repository';
import { CropStore } from './crop-store';
import { EmbeddingRepository } from './embedding.repository';
import { FaceAnalysisPool } from './face-analysis.pool';
import { FaceModelFiles, type FaceModels } from './face-model-files';
import { HardExampleTrainingRepository } from './hard-example-training.repository';
import { IdentityRepository, type EnrolmentPhotoRecord, type IdentityRecord } from './identity.repository';
import type { UploadedPhoto } from './photo-upload';

export class IdentityNotFoundError extends DomainError {
  constructor(ref: string) {
    super(404, 'identity_not_found', `identity "${ref}" not found`, [{ identity: ref }]);
  }
}

export type EnrolmentPhotoView = EnrolmentPhotoRecord & { embedders: string[] };

export interface Enrolment {
  identity: IdentityRecord;
  models: FaceModels;
  results: Array<{ file: string; status: 'enrolled'; photo: EnrolmentPhotoView } | Extract<EnrolmentResult, { status: 'refused' }>>;
}

function newId(prefix: string): string {
  return `${prefix}_${randomBytes(9)
    .toString('base64url')
    .replace(/[^A-Za-z0-9]/g, 'x')}`;
}

/** The gallery: identities, their enrolment photos (aligned crop in S3, embedding per embedder), rename, merge, delete. */
@Injectable()
export class IdentityService {
  private readonly logger = new Logger(IdentityService.name);

  constructor(
    private readonly identities: IdentityRepository,
    private readonly embeddings: EmbeddingRepository,
    private readonly hardExamples: HardExampleTrainingRepository,
    private readonly crops: CropStore,
    private readonly files: FaceModelFiles,
    private readonly faces: FaceAnalysisPool,
    private readonly audit: AuditRepository,
    private readonly events: DomainEvents,
  ) {}

  async create(name: string, displayName: string | null, actor: string | null): Promise<IdentityRecord> {
    const id = newId('idn');
    if (!(await this.identities.insert(id, name, displayName))) throw new DomainError(409, 'identity_exists', `an identity named "${name}" exists`, [{ name }]);
    await this.audit.record({ actor, action: 'identity.create', subject: id, details: { name } });
    await this.events.emit('identity.changed', { identityId: id, change: 'created' });
    return (await this.identities.get(id))!;
  }

  list(): Promise<IdentityRecord[]> {
    return this.identities.list();
  }

  /** By id, or by name when no id matches. */
  async get(ref: string): Promise<IdentityRecord> {
    const identity = (await this.identities.get(ref)) ?? (await this.identities.getByName(ref));
    if (!identity) throw new IdentityNotFoundError(ref);
    return identity;
  }

  async update(ref: string, change: { name?: string; displayName?: string | null }, actor: string | null): Promise<IdentityRecord> {
    const identity = await this.get(ref);
    await this.identities.db.transaction(async (tx) => {
      if (change.name !== undefined && change.name !== identity.name) {
        if (await this.identities.getByName(change.name, tx))
          throw new DomainError(409, 'identity_exists', `an identity named "${change.name}" exists`, [{ name: change.name }]);
        await this.hardExamples.relabel(tx, identity.name, change.name);
      }
      await this.identities.update(tx, identity.id, change);
      await this.audit.record({ actor, action: 'identity.update', subject: identity.id, details: { from: identity.name, ...change } }, tx);
    });
    await this.events.emit('identity.changed', { identityId: identity.id, change: 'updated' });
    return (await this.identities.get(identity.id))!;
  }

  /** Moves `fromRef`'s photos and hard-example labels to `intoRef`, then deletes `fromRef`. */
  async merge(intoRef: string, fromRef: string, actor: string | null): Promise<IdentityRecord> {
    const into = await this.get(intoRef);
    const from = await this.get(fromRef);
    if (into.id === from.id) throw new ConflictError('an identity cannot be merged into itself');
    await this.identities.db.transaction(async (tx) => {
      const moved = await this.identities.movePhotos(tx, from.id, into.id);
      await this.hardExamples.relabel(tx, from.name, into.name);
      await this.identities.delete(tx, from.id);
      await this.identities.touch(tx, into.id);
      await this.audit.record({ actor, action: 'identity.merge', subject: into.id, details: { from: from.id, fromName: from.name, photos: moved } }, tx);
    });
    await this.events.emit('identity.changed', { identityId: from.id, change: 'deleted' });
    await this.events.emit('identity.changed', { identityId: into.id, change: 'merged' });
    return (await this.identities.get(into.id))!;
  }

  /** Deletes the identity and its photos; hard examples labelled with it go back to the labelling queue. */
  async delete(ref: string, actor: string | null): Promise<void> {
    const identity = await this.get(ref);
    const photos = await this.identities.listPhotos(identity.id);
    await this.identities.db.transaction(async (tx) => {
      await this.hardExamples.unlabel(tx, identity.name);
      await this.identities.delete(tx, identity.id);
      await this.audit.record({ actor, action: 'identity.delete', subject: identity.id, details: { name: identity.name, photos: photos.length } }, tx);
    });
    await this.removeUnusedCrops(photos.map((p) => p.cropSha256));
    await this.events.emit('identity.changed', { identityId: identity.id, change: 'deleted' });
  }

  async photos(ref: string): Promise<EnrolmentPhotoView[]> {
    const identity = await this.get(ref);
    return this.withEmbedders(await this.identities.listPhotos(identity.id));
  }

  async deletePhoto(ref: string, photoId: string, actor: string | null): Promise<void> {
    const identity = await this.get(ref);
    const photo = await this.identities.getPhoto(identity.id, photoId);
    if (!photo) throw new NotFoundError(`photo ${photoId} of identity ${identity.name}`);
    await this.identities.db.transaction(async (tx) => {
      await this.identities.deletePhoto(tx, photo.id);
      await this.identities.touch(tx, identity.id);
      await this.audit.record({ actor, action: 'identity.photo.delete', subject: identity.id, details: { photo: photo.id } }, tx);
    });
    await this.removeUnusedCrops([photo.cropSha256]);
    await this.events.emit('identity.changed', { identityId: identity.id, change: 'photos' });
  }

  async crop(ref: string, photoId: string): Promise<Buffer> {
    const identity = await this.get(ref);
    const photo = await this.identities.getPhoto(identity.id, photoId);
    const bytes = photo ? await this.crops.enrolmentCrop(photo.cropSha256) : undefined;
    if (!bytes) throw new NotFoundError(`the crop of photo ${photoId}`);
    return bytes;
  }

  /**
   * Detects, aligns and embeds each photo in the face worker with the embedder of `model` (default: the
   * configured one). A photo with exactly one face is stored (crop in S3, embedding in SQL); any other is
   * refused with its reason, and nothing of it is stored. Photos are independent of each other.
   */
  async enrol(ref: string, photos: UploadedPhoto[], model: ModelReference | undefined, actor: string | null): Promise<Enrolment> {
    const identity = await this.get(ref);
    const models = await this.files.resolve(model);
    const results: Enrolment['results'] = [];
    for (const upload of photos) {
      const outcome = await this.faces.run({ op: 'enrol', models: models.paths, photo: new Uint8Array(upload.bytes) });
      if (outcome.status === 'refused') {
        results.push({
          file: upload.fileName,
          status: 'refused',
          error: outcome.error,
          message: `photo "${upload.fileName}": ${outcome.message}`,
          ...(outcome.faces !== undefined ? { faces: outcome.faces } : {}),
        });
        continue;
      }
      const cropSha256 = await this.crops.putEnrolmentCrop(outcome.crop);
      const photo = {
        id: newId('pho'),
        identityId: identity.id,
        cropSha256,
        sourceName: upload.fileName,
        sourceSize: upload.bytes.length,
        detectionScore: outcome.score,
      };
      await this.identities.db.transaction(async (tx) => {
        await this.identities.insertPhoto(photo, tx);
        await this.embeddings.put('photo', photo.id, models.embedderSha256, outcome.embedding, tx);
        await this.identities.touch(tx, identity.id);
      });
      const [stored] = await this.withEmbedders([(await this.identities.getPhoto(identity.id, photo.id))!]);
      results.push({ file: upload.fileName, status: 'enrolled', photo: stored });
    }
    const enrolled = results.filter((r) => r.status === 'enrolled').length;
    this.logger.log(`enrolled ${enrolled} of ${photos.length} photos of ${identity.name} with ${models.version.name}@${models.version.version}`);
    if (enrolled > 0) {
      await this.audit.record({ actor, action: 'identity.enrol', subject: identity.id, details: { photos: enrolled, refused: photos.length - enrolled } });
      await this.events.emit('identity.changed', { identityId: identity.id, change: 'photos' });
    }
    return { identity: (await this.identities.get(identity.id))!, models, results };
  }

  private async withEmbedders(photos: EnrolmentPhotoRecord[]): Promise<EnrolmentPhotoView[]> {
    const embedders = await this.embeddings.embeddersOf(
      'photo',
      photos.map((p) => p.id),
    );
    return photos.map((p) => ({ ...p, embedders: embedders.get(p.id) ?? [] }));
  }

  private async removeUnusedCrops(hashes: string[]): Promise<void> {
    for (const sha256 of new Set(hashes)) {
      if ((await this.identities.cropUsers(sha256)) === 0)
        await this.crops.removeEnrolmentCrop(sha256).catch((err: Error) => this.logger.warn(`crop ${sha256} not removed: ${err.message}`));
    }
  }
}
