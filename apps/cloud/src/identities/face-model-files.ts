import { Injectable, Logger } from '@nestjs/common';
import { formatModelRef, type ModelReference, type ModelVersionRef } from '@edgeloop/contracts';
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CloudConfig } from '../config/cloud.config';
import { DomainError, NotFoundError } from '../errors/domain.errors';
import { blobKey, BlobRepository } from '../repositories/blob.repository';
import { ModelRepository } from '../repositories/model.repository';
import type { FaceModelPaths } from './face-worker.protocol';

/** The model whose embedder enrols photos and clusters unknowns when a request names none. */
export const DEFAULT_EMBEDDER_MODEL: ModelReference = { kind: 'alias', name: 'face-id', alias: 'production' };

/** A model version's face models (detector, landmarks, embedder) as local files, and its embedder's sha256. */
export interface FaceModels {
  version: ModelVersionRef;
  embedderSha256: string;
  paths: FaceModelPaths;
}

const FACE_ROLES = ['detector', 'landmarks', 'embedder'] as const;

/**
 * The face models of a registered version, fetched from S3 into a local cache folder keyed by sha256
 * (`<data dir>/cache/face-models/<sha256>`), each checked against its hash before it is used.
 */
@Injectable()
export class FaceModelFiles {
  private readonly logger = new Logger(FaceModelFiles.name);
  private readonly dir: string;
  private readonly fetching = new Map<string, Promise<string>>();

  constructor(
    config: CloudConfig,
    private readonly models: ModelRepository,
    private readonly blobs: BlobRepository,
  ) {
    this.dir = resolve(config.dataDir, 'cache', 'face-models');
  }

  /** A version named by number or alias; 404 when it does not exist, 422 `no_embedder` when it lacks a face model. */
  async resolve(ref: ModelReference = DEFAULT_EMBEDDER_MODEL): Promise<FaceModels> {
    const version = ref.kind === 'version' ? ref.version : await this.models.resolveAlias(ref.name, ref.alias);
    if (version === undefined) {
      throw new DomainError(422, 'no_embedder', `no model ${formatModelRef(ref)} to embed faces with; register one or pass ?model=name@version`);
    }
    return this.forVersion({ name: ref.name, version });
  }

  async forVersion(ref: ModelVersionRef): Promise<FaceModels> {
    const record = await this.models.getVersion(ref.name, ref.version);
    if (!record) throw new NotFoundError(`version ${ref.name}@${ref.version}`);
    const byRole = new Map(record.manifest.files.map((f) => [f.role, f.sha256]));
    const missing = FACE_ROLES.filter((role) => !byRole.get(role));
    if (missing.length > 0) {
      throw new DomainError(422, 'no_embedder', `${ref.name}@${ref.version} has no ${missing.join(', ')} file; it cannot embed faces`);
    }
    const [detector, landmarks, embedder] = await Promise.all(FACE_ROLES.map((role) => this.file(byRole.get(role)!)));
    const detection = record.manifest.thresholds?.detection;
    return {
      version: ref,
      embedderSha256: byRole.get('embedder')!,
      paths: { detector, landmarks, embedder, ...(typeof detection === 'number' ? { detectionThreshold: detection } : {}) },
    };
  }

  /** The embedder sha256 of a version, from its manifest (no download); undefined when unknown. */
  async embedderOf(ref: ModelVersionRef): Promise<string | undefined> {
    const record = await this.models.getVersion(ref.name, ref.version);
    return record?.manifest.files.find((f) => f.role === 'embedder')?.sha256;
  }

  private file(sha256: string): Promise<string> {
    let entry = this.fetching.get(sha256);
    if (!entry) {
      entry = this.download(sha256).finally(() => this.fetching.delete(sha256));
      this.fetching.set(sha256, entry);
    }
    return entry;
  }

  private async download(sha256: string): Promise<string> {
    const target = join(this.dir, sha256);
    if (
      await stat(target).then(
        (s) => s.isFile(),
        () => false,
      )
    )
      return target;
    await mkdir(this.dir, { recursive: true });
    const size = await this.blobs.size(blobKey(sha256));
    if (size === undefined || size === 0) throw new NotFoundError(`blob ${sha256}`);
    const partial = join(this.dir, `${sha256}.${randomUUID()}.part`);
    const hash = createHash('sha256');
    try {
      const source = await this.blobs.getRange(blobKey(sha256), 0, size - 1);
      source.on('data', (chunk: Buffer) => hash.update(chunk));
      await pipeline(source, createWriteStream(partial));
      const actual = hash.digest('hex');
      if (actual !== sha256) throw new Error(`blob ${sha256} has sha256 ${actual} in storage`);
      await rename(partial, target);
      this.logger.log(`cached face model ${sha256.slice(0, 12)} (${size} bytes)`);
      return target;
    } finally {
      await rm(partial, { force: true });
    }
  }
}
