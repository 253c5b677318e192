import { Injectable, Logger } from '@nestjs/common';
import {
  describeZodError,
  fieldIssues,
  MANIFEST_SCHEMA,
  MODEL_FILE_ROLES,
  ModelFileRole,
  ModelManifest,
  ModelManifestSchema,
  ModelNameSchema,
  UploadManifest,
} from '@edgeloop/contracts';
import { parseWindowStats, resolveDriftAlarmOptions, resolveDriftThresholds } from '@edgeloop/drift';
import { SqlDatabase } from '../database/sql-database';
import { BadRequestError, InvalidArtifactError, NotFoundError } from '../errors/domain.errors';
import { OnnxInspectionError, OnnxInspector } from '../onnx/onnx-inspector';
import { checkRole, embeddingWidth } from '../onnx/role-rules';
import { AuditRepository } from '../repositories/audit.repository';
import { blobKey, BlobRepository, manifestKey } from '../repositories/blob.repository';
import { BlobVerificationRepository } from '../repositories/blob-verification.repository';
import { ManifestSigner } from '../repositories/manifest-signer';
import { ModelRepository, VersionRecord } from '../repositories/model.repository';
import { DomainEvents } from '../events/domain-events';
import type { SpooledFile, SpooledUpload } from './model-upload.spooler';
import { UploadStaging } from './model-upload.staging';

const DEFAULT_THRESHOLDS = { detection: 0.8, match: 0.45 };

/** Refuses a model name before any of the body is read. */
export function checkModelName(name: string): void {
  const parsed = ModelNameSchema.safeParse(name);
  if (!parsed.success) throw new BadRequestError('invalid_model_name', describeZodError(parsed.error));
}

/**
 * Registers a model version from a received upload (`ModelUploadSpooler` read it off the wire): each file is
 * validated in an isolated onnxruntime process, put into S3 under its content address unless a verified copy
 * is already there, and the version is registered in one transaction. Nothing reaches `blobs/sha256/<hex>`
 * before its bytes were hashed to `<hex>`; a stored blob counts as present only when verified (never by its
 * size). Any failure registers nothing and removes the blobs this upload added, unless another upload relies
 * on them. The caller disposes of the upload's temporary files afterwards.
 */
@Injectable()
export class ModelUploadService {
  private readonly logger = new Logger(ModelUploadService.name);

  constructor(
    private readonly db: SqlDatabase,
    private readonly models: ModelRepository,
    private readonly blobs: BlobRepository,
    private readonly audit: AuditRepository,
    private readonly signer: ManifestSigner,
    private readonly inspector: OnnxInspector,
    private readonly verifications: BlobVerificationRepository,
    private readonly staging: UploadStaging,
    private readonly events: DomainEvents,
  ) {}

  /** Called as an upload's body starts to arrive: a validator process is then ready when the files are. */
  prepareValidation(): void {
    this.inspector.prewarm();
  }

  async upload(name: string, upload: SpooledUpload, actor: { tokenId: string; name: string } | null): Promise<VersionRecord> {
    checkModelName(name);
    const started = performance.now();
    const { files, manifest: request, uploadId } = upload;
    const addedBlobs: string[] = [];
    try {
      checkRequest(files, request);
      // validation (child process) and storage (S3) overlap; blobs of a rejected upload are removed below
      const storing = Promise.all(
        files.map(async (file) => {
          if (await this.storeBlob(file, uploadId)) addedBlobs.push(file.sha256);
        }),
      );
      const [validated, stored] = await Promise.allSettled([this.validateModels(files, request), storing]);
      if (validated.status === 'rejected') {
        await storing.catch(() => undefined);
        throw validated.reason;
      }
      if (stored.status === 'rejected') throw stored.reason;
      const record = await this.register(name, files, request, actor);
      await this.events.emit('model.version.created', {
        model: { name, version: record.version },
        parent: record.parent,
        files: record.manifest.files.map((f) => ({ role: f.role, sha256: f.sha256, size: f.size })),
        createdBy: record.manifest.createdBy,
      });
      this.logger.log(
        `registered ${name}@${record.version} (${files.length} files, ${addedBlobs.length} new blobs) in ${Math.round(performance.now() - started)} ms`,
      );
      return record;
    } catch (err) {
      await this.removeStrayBlobs(addedBlobs, uploadId);
      throw err;
    }
  }

  /** Each file is loaded in onnxruntime in a child process and must fit its role. */
  private async validateModels(files: SpooledFile[], request: UploadManifest): Promise<void> {
    const inspections = await Promise.all(
      files.map(async (file) => {
        try {
          return { file, model: await this.inspector.inspect(file.path) };
        } catch (err) {
          if (err instanceof OnnxInspectionError) {
            throw new InvalidArtifactError(`the ${file.role} file "${file.fileName}" is not a loadable ONNX model: ${err.message}`, [
              { role: file.role, code: err.reason === 'timeout' ? 'validation_timeout' : 'invalid_onnx' },
            ]);
          }
          throw err;
        }
      }),
    );
    const embedder = inspections.find((i) => i.file.role === 'embedder');
    const context = {
      labels: request.labels?.length,
      embeddingDim: embedder ? embeddingWidth(embedder.model) : undefined,
    };
    const problems = inspections.flatMap(({ file, model }) =>
      checkRole(file.role, model, context).map((message) => ({ role: file.role, code: 'role_mismatch', message })),
    );
    if (problems.length > 0) {
      throw new InvalidArtifactError(
        `the uploaded models do not fit their roles: ${problems.map((p) => `${p.role}: ${p.message}`).join('; ')}`,
        problems,
      );
    }
  }

  /**
   * Stores the blob under its content address unless a verified copy is there; true when this upload added it.
   * The bytes written are the ones hashed: the spooled file, or the temporary object that received the same
   * stream, moved only when its computed hash and size are the declared ones.
   */
  private async storeBlob(file: SpooledFile, uploadId: string): Promise<boolean> {
    if (await this.staging.verifiedPresent(file, uploadId)) return false;
    const key = blobKey(file.sha256);
    const staged = file.staged;
    const write = () =>
      staged && staged.sha256 === file.sha256 && staged.size === file.size
        ? this.blobs.copy(staged.tempKey, key)
        : this.blobs.putFile(key, file.path, file.size);
    try {
      await write();
    } catch (err) {
      // another upload of the same bytes may have written them at the same moment (s3rver refuses concurrent
      // writes to one key); its verified copy will do, otherwise write once more
      await new Promise((r) => setTimeout(r, 200));
      if (await this.staging.verifiedPresent(file, uploadId)) return false;
      this.logger.warn(`storing blob ${file.sha256} failed once, retrying: ${(err as Error).message}`);
      await write();
    }
    await this.verifications.recordVerified(file.sha256, file.size);
    return true;
  }

  private async register(
    name: string,
    files: SpooledFile[],
    request: UploadManifest,
    actor: { tokenId: string; name: string } | null,
  ): Promise<VersionRecord> {
    if (request.parent !== undefined && !(await this.models.getVersion(name, request.parent))) {
      throw new NotFoundError(`parent version ${name}@${request.parent}`);
    }
    const order = (role: string) => MODEL_FILE_ROLES.indexOf(role as ModelFileRole);
    const sorted = [...files].sort((a, b) => order(a.role) - order(b.role));
    const createdBy = actor ? `token:${actor.name}` : 'upload';
    const manifestFor = (version: number): ModelManifest => {
      const candidate = {
        schema: MANIFEST_SCHEMA,
        name,
        version,
        ...(request.parent !== undefined ? { parent: request.parent } : {}),
        files: sorted.map((f) => ({ role: f.role, sha256: f.sha256, size: f.size, format: 'onnx' as const })),
        labels: request.labels ?? [],
        thresholds: { ...DEFAULT_THRESHOLDS, ...(request.thresholds ?? {}) },
        metrics: request.metrics ?? {},
        createdBy,
        createdAt: new Date().toISOString(),
        ...(request.source ? { source: request.source } : {}),
        ...(request.drift ? { drift: request.drift } : {}),
      };
      const parsed = ModelManifestSchema.safeParse(candidate);
      if (!parsed.success) {
        throw new BadRequestError('invalid_manifest', `the resulting manifest is invalid: ${describeZodError(parsed.error)}`, fieldIssues(parsed.error));
      }
      return parsed.data;
    };
    return this.db.transaction(async (tx) => {
      const slot = await this.models.reserveVersion(tx, name);
      const manifest = manifestFor(slot.version);
      const record = await this.models.insertVersion(tx, slot, {
        parent: request.parent ?? null,
        createdBy,
        manifest,
        signature: this.signer.sign(manifest),
        files: sorted.map((f) => ({ role: f.role, sha256: f.sha256, size: f.size, format: 'onnx', fileName: f.fileName })),
      });
      await this.audit.record(
        {
          actor: actor?.tokenId ?? null,
          action: 'model.version.create',
          subject: `${name}@${record.version}`,
          details: { files: sorted.map((f) => ({ role: f.role, sha256: f.sha256, size: f.size })) },
        },
        tx,
      );
      await this.blobs.putJson(manifestKey(name, record.version), { manifest: record.manifest, signature: record.signature });
      return record;
    });
  }

  /** Removes blobs this upload put into S3, unless a registered version references them or another upload claims them. */
  private async removeStrayBlobs(added: string[], uploadId: string): Promise<void> {
    for (const sha256 of added) {
      try {
        await this.verifications.forget(sha256, uploadId, () => this.blobs.remove(blobKey(sha256)));
      } catch (err) {
        this.logger.warn(`could not remove stray blob ${sha256}: ${(err as Error).message}`);
      }
    }
  }
}

/** The manifest's drift settings, and every file it names against the files that arrived. */
function checkRequest(files: SpooledFile[], request: UploadManifest): void {
  if (request.drift) checkDriftSettings(request.drift);
  for (const named of request.files ?? []) {
    const file = files.find((f) => f.role === named.role);
    if (!file) {
      throw new BadRequestError('manifest_file_missing', `the manifest names a ${named.role} file that was not uploaded`, [
        { path: 'files', role: named.role },
      ]);
    }
    if (named.sha256 && named.sha256 !== file.sha256) {
      throw new InvalidArtifactError(`the ${named.role} file's sha256 is ${file.sha256}, the manifest says ${named.sha256}`);
    }
    if (named.size !== undefined && named.size !== file.size) {
      throw new InvalidArtifactError(`the ${named.role} file has ${file.size} bytes, the manifest says ${named.size}`);
    }
  }
}

/** Drift settings are checked with the same parsers the drift detector uses, so a bad one fails the upload. */
function checkDriftSettings(drift: { thresholds?: unknown; alarm?: unknown; reference?: unknown }): void {
  try {
    resolveDriftThresholds(drift.thresholds ?? {});
    resolveDriftAlarmOptions(drift.alarm ?? {});
    if (drift.reference !== undefined) parseWindowStats(drift.reference);
  } catch (err) {
    throw new BadRequestError('invalid_manifest', `the manifest's drift settings are invalid: ${(err as Error).message}`);
  }
}
