import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import {
  describeZodError,
  fieldIssues,
  MANIFEST_SCHEMA,
  MODEL_FILE_ROLES,
  ModelFileRole,
  ModelManifest,
  ModelManifestSchema,
  ModelMetricsSchema,
  ModelNameSchema,
  ModelThresholdsSchema,
  ModelVersionNumberSchema,
  IdentityLabelSchema,
  SHA256_PATTERN,
} from '@edgeloop/contracts';
import { parseWindowStats, resolveDriftAlarmOptions, resolveDriftThresholds } from '@edgeloop/drift';
import busboy from 'busboy';
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { CloudConfig } from '../config/cloud.config';
import { SqlDatabase } from '../database/sql-database';
import { BadRequestError, DomainError, InvalidArtifactError, NotFoundError, PayloadTooLargeError } from '../errors/domain.errors';
import { OnnxInspectionError, OnnxInspector } from '../onnx/onnx-inspector';
import { checkRole, embeddingWidth } from '../onnx/role-rules';
import { AuditRepository } from '../repositories/audit.repository';
import { blobKey, BlobRepository, manifestKey, SINGLE_COPY_LIMIT, TEMP_UPLOAD_PREFIX, tempUploadKey } from '../repositories/blob.repository';
import { BlobVerificationRepository } from '../repositories/blob-verification.repository';
import { ManifestSigner } from '../repositories/manifest-signer';
import { ModelRepository, VersionRecord } from '../repositories/model.repository';
import { DomainEvents } from '../events/domain-events';

/** What the optional `manifest` form field may say; the server fills in name, version, files and dates. */
const UploadManifestSchema = z.strictObject({
  schema: z.literal(MANIFEST_SCHEMA).optional(),
  parent: ModelVersionNumberSchema.optional(),
  labels: z.array(IdentityLabelSchema).max(100_000).optional(),
  thresholds: ModelThresholdsSchema.optional(),
  metrics: ModelMetricsSchema.optional(),
  source: z.string().max(256).optional(),
  /** Per-model drift settings and, optionally, the statistics recorded at training time as the reference. */
  drift: z.strictObject({ thresholds: z.unknown().optional(), alarm: z.unknown().optional(), reference: z.unknown().optional() }).optional(),
  files: z
    .array(z.looseObject({ role: z.enum(MODEL_FILE_ROLES), sha256: z.string().optional(), size: z.number().optional() }))
    .max(16)
    .optional(),
});
type UploadManifest = z.infer<typeof UploadManifestSchema>;

interface SpooledFile {
  role: ModelFileRole;
  fileName: string;
  path: string;
  sha256: string;
  size: number;
  /**
   * Set when the bytes went to S3 while they were received (the manifest declared sha256 and size first):
   * they wait under a temporary key and reach their content address only once their hash matches.
   */
  streamed?: { tempKey: string; sha256: string; size: number };
}

/** Temporary upload objects older than this are left over from a crashed process and swept at boot. */
const STALE_TEMP_MS = 6 * 3600_000;

const DEFAULT_THRESHOLDS = { detection: 0.8, match: 0.45 };

/**
 * Registers a model version from a multipart upload. Each file is streamed to a temporary file while its
 * sha256 is computed (never held whole in memory), validated in an isolated onnxruntime process, put into
 * S3 under its content address unless a verified copy is already there, and the version is registered in
 * one transaction. Nothing reaches `blobs/sha256/<hex>` before its bytes were hashed to `<hex>`; a stored
 * blob counts as present only when verified (never by its size). Any failure registers nothing and removes
 * the blobs this upload added, unless another upload relies on them.
 */
@Injectable()
export class ModelUploadService implements OnApplicationBootstrap {
  private readonly logger = new Logger(ModelUploadService.name);

  constructor(
    private readonly config: CloudConfig,
    private readonly db: SqlDatabase,
    private readonly models: ModelRepository,
    private readonly blobs: BlobRepository,
    private readonly audit: AuditRepository,
    private readonly signer: ManifestSigner,
    private readonly inspector: OnnxInspector,
    private readonly verifications: BlobVerificationRepository,
    private readonly events: DomainEvents,
  ) {}

  /** Sweeps temporary upload objects and blob claims that a crashed process left behind. */
  async onApplicationBootstrap(): Promise<void> {
    try {
      const stale = await this.blobs.keysOlderThan(TEMP_UPLOAD_PREFIX, new Date(Date.now() - STALE_TEMP_MS));
      for (const key of stale) await this.blobs.remove(key);
      const claims = await this.verifications.dropStaleClaims();
      if (stale.length + claims > 0) this.logger.log(`swept ${stale.length} stale temporary upload(s) and ${claims} stale blob claim(s)`);
    } catch (err) {
      this.logger.warn(`could not sweep stale temporary uploads: ${(err as Error).message}`);
    }
  }

  async upload(name: string, req: IncomingMessage, actor: { tokenId: string; name: string } | null): Promise<VersionRecord> {
    const parsedName = ModelNameSchema.safeParse(name);
    if (!parsedName.success) {
      drain(req);
      throw new BadRequestError('invalid_model_name', describeZodError(parsedName.error));
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > this.config.maxUploadBytes) {
      drain(req);
      throw new PayloadTooLargeError(this.config.maxUploadBytes);
    }
    const contentType = req.headers['content-type'] ?? '';
    if (!/^multipart\/form-data/i.test(contentType)) {
      drain(req);
      throw new BadRequestError('not_multipart', 'the upload must be multipart/form-data with one part per file, named by its role');
    }
    const started = performance.now();
    const dir = await mkdtemp(join(tmpdir(), 'edgeloop-upload-'));
    const uploadId = randomUUID();
    const addedBlobs: string[] = [];
    const tempKeys: string[] = [];
    try {
      const { files, manifestField } = await this.receive(req, dir, uploadId, tempKeys);
      const request = this.checkRequest(files, manifestField);
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
    } finally {
      await this.cleanUp(uploadId, tempKeys);
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Streams the multipart body: files to disk with their hash, the manifest field into memory (bounded). */
  private receive(req: IncomingMessage, dir: string, uploadId: string, tempKeys: string[]): Promise<{ files: SpooledFile[]; manifestField?: string }> {
    const limit = this.config.maxUploadBytes;
    return new Promise((resolve, reject) => {
      let failure: DomainError | Error | undefined;
      const fail = (err: DomainError | Error) => {
        failure ??= err;
      };
      let parser: busboy.Busboy;
      try {
        parser = busboy({
          headers: req.headers,
          limits: { fileSize: limit, files: 16, fields: 8, fieldSize: 1024 * 1024, parts: 32 },
        });
      } catch (err) {
        drain(req);
        reject(new BadRequestError('not_multipart', `the multipart body cannot be read: ${(err as Error).message}`));
        return;
      }
      const files: SpooledFile[] = [];
      const spooling: Promise<void>[] = [];
      let manifestField: string | undefined;
      let received = 0;
      let finished = false;

      // a body that sends nothing for uploadIdleMs is refused (408) and, the request being incomplete, the
      // controller closes the connection; a body held back by back-pressure (S3, the disk) is not idle
      const idleMs = this.config.httpTimeouts.uploadIdleMs;
      let idle: NodeJS.Timeout | undefined;
      const watchIdle = () => {
        clearTimeout(idle);
        idle = setTimeout(() => {
          if (req.complete || finished) return;
          if (req.readableFlowing === false) return watchIdle();
          const err = new UploadIdleError(idleMs);
          fail(err);
          counter.destroy(err);
        }, idleMs);
      };
      const counter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          watchIdle();
          received += chunk.length;
          if (received > limit) {
            fail(new PayloadTooLargeError(limit));
            done(new PayloadTooLargeError(limit));
            return;
          }
          done(null, chunk);
        },
        flush(done) {
          clearTimeout(idle);
          done();
        },
      });
      watchIdle();
      req.once('close', () => clearTimeout(idle));

      parser.on('file', (field: string, stream: Readable, info: busboy.FileInfo) => {
        if (!(MODEL_FILE_ROLES as readonly string[]).includes(field)) {
          fail(
            new BadRequestError('unknown_role', `unknown file role "${field}"; roles are ${MODEL_FILE_ROLES.join(', ')}`, [
              { path: field, message: 'unknown role' },
            ]),
          );
          stream.resume();
          return;
        }
        if (files.some((f) => f.role === field)) {
          fail(new BadRequestError('duplicate_role', `two files have the role "${field}"`));
          stream.resume();
          return;
        }
        const role = field as ModelFileRole;
        const file: SpooledFile = { role, fileName: info.filename ?? role, path: join(dir, `${files.length}-${role}`), sha256: '', size: 0 };
        files.push(file);
        const hash = createHash('sha256');
        const hasher = new Transform({
          transform(chunk: Buffer, _enc, done) {
            hash.update(chunk);
            file.size += chunk.length;
            done(null, chunk);
          },
        });
        stream.on('limit', () => fail(new PayloadTooLargeError(limit)));
        const declared = declaredFile(manifestField, role);
        stream.pause();
        spooling.push(
          (async () => {
            // with a declared sha256 and size, a new blob goes to S3 while it is received, at the same time as
            // it is hashed and spooled for validation — to a temporary key: storeBlob moves it to its content
            // address only if the computed hash is the declared one
            const direct = declared && declared.size <= SINGLE_COPY_LIMIT && !(await this.verifiedPresent(declared, uploadId)) ? new PassThrough() : undefined;
            if (direct) {
              file.streamed = { tempKey: tempUploadKey(), ...declared! };
              tempKeys.push(file.streamed.tempKey);
            }
            const upload = direct ? this.streamToS3(file.streamed!, direct, file) : undefined;
            if (direct) {
              // pipe() does not pass an error on: without this the temporary PUT would wait for bytes forever
              hasher.once('error', (err) => direct.destroy(err));
              hasher.pipe(direct);
            }
            stream.resume();
            await Promise.all([pipeline(stream, hasher, createWriteStream(file.path)), upload]);
            file.sha256 = hash.digest('hex');
          })().catch((err: Error) => fail(err)),
        );
      });
      parser.on('field', (field: string, value: string, info: busboy.FieldInfo) => {
        if (field !== 'manifest') {
          fail(new BadRequestError('unknown_field', `unknown form field "${field}"; only "manifest" and files by role`));
        } else if (info.valueTruncated) {
          fail(new BadRequestError('invalid_manifest', 'the manifest field is over 1 MiB'));
        } else manifestField = value;
      });
      parser.on('filesLimit', () => fail(new BadRequestError('too_many_files', 'at most 16 files per upload')));
      parser.on('fieldsLimit', () => fail(new BadRequestError('too_many_fields', 'too many form fields')));
      parser.on('error', (err: Error) => fail(new BadRequestError('malformed_multipart', `the multipart body is malformed: ${err.message}`)));
      parser.on('close', () => {
        finished = true;
        Promise.all(spooling).then(() => {
          if (failure) reject(failure);
          else resolve({ files, manifestField });
        }, reject);
      });
      req.on('aborted', () => fail(new ClientGoneError()));
      req.on('close', () => {
        if (!finished && !req.complete) {
          fail(new ClientGoneError());
          reject(failure);
        }
      });
      pipeline(req, counter, parser).catch((err: Error) => {
        fail(err instanceof DomainError ? err : new ClientGoneError());
        drain(req);
        Promise.allSettled(spooling).then(() => reject(failure));
      });
    });
  }

  private checkRequest(files: SpooledFile[], manifestField: string | undefined): UploadManifest {
    if (files.length === 0) {
      throw new BadRequestError('missing_file', 'the upload has no file part; send each model file as a part named by its role');
    }
    for (const file of files) {
      if (file.size === 0) {
        throw new InvalidArtifactError(`the ${file.role} file "${file.fileName}" is empty`, [{ role: file.role, code: 'empty_file' }]);
      }
    }
    let request: UploadManifest = {};
    if (manifestField !== undefined) {
      let raw: unknown;
      try {
        raw = JSON.parse(manifestField);
      } catch (err) {
        throw new BadRequestError('invalid_manifest', `the manifest field is not valid JSON: ${(err as Error).message}`);
      }
      const parsed = UploadManifestSchema.safeParse(raw);
      if (!parsed.success) {
        throw new BadRequestError('invalid_manifest', `the manifest is invalid: ${describeZodError(parsed.error)}`, fieldIssues(parsed.error));
      }
      request = parsed.data;
      if (request.drift) checkDriftSettings(request.drift);
    }
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
    return request;
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
   * Whether a verified copy of the blob is stored. The upload claims the blob first, so that no failing upload
   * removes it between this answer and the registration. What S3 holds under the name, or its size, is not
   * evidence: anyone may have written there before verification existed.
   */
  private async verifiedPresent(blob: { sha256: string; size: number }, uploadId: string): Promise<boolean> {
    await this.verifications.claim(uploadId, blob.sha256);
    return (await this.verifications.verifiedSize(blob.sha256)) === blob.size;
  }

  /** Streams a file part to S3 under a temporary key; refuses more or fewer bytes than declared. */
  private async streamToS3(declared: { tempKey: string; size: number }, body: PassThrough, file: SpooledFile): Promise<void> {
    let seen = 0;
    const guard = new Transform({
      transform(chunk: Buffer, _enc, done) {
        seen += chunk.length;
        if (seen > declared.size) done(new InvalidArtifactError(`the ${file.role} file is larger than the ${declared.size} bytes its manifest declares`));
        else done(null, chunk);
      },
      flush(done) {
        if (seen < declared.size) done(new InvalidArtifactError(`the ${file.role} file is smaller than the ${declared.size} bytes its manifest declares`));
        else done();
      },
    });
    body.on('error', (err) => guard.destroy(err));
    await this.blobs.putStream(declared.tempKey, body.pipe(guard), declared.size);
  }

  /**
   * Stores the blob under its content address unless a verified copy is there; true when this upload added it.
   * The bytes written are the ones hashed: the spooled file, or the temporary object that received the same
   * stream, moved only when its computed hash and size are the declared ones.
   */
  private async storeBlob(file: SpooledFile, uploadId: string): Promise<boolean> {
    if (await this.verifiedPresent(file, uploadId)) return false;
    const key = blobKey(file.sha256);
    const streamed = file.streamed;
    const write = () =>
      streamed && streamed.sha256 === file.sha256 && streamed.size === file.size
        ? this.blobs.copy(streamed.tempKey, key)
        : this.blobs.putFile(key, file.path, file.size);
    try {
      await write();
    } catch (err) {
      // another upload of the same bytes may have written them at the same moment (s3rver refuses concurrent
      // writes to one key); its verified copy will do, otherwise write once more
      await new Promise((r) => setTimeout(r, 200));
      if (await this.verifiedPresent(file, uploadId)) return false;
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
      const record = await this.models.insertVersion(tx, name, {
        parent: request.parent ?? null,
        createdBy,
        manifestFor,
        sign: (manifest) => this.signer.sign(manifest),
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

  /** Removes the upload's temporary objects and drops its claims, whatever the outcome. */
  private async cleanUp(uploadId: string, tempKeys: string[]): Promise<void> {
    for (const key of tempKeys) {
      await this.blobs.remove(key).catch((err: Error) => this.logger.warn(`could not remove temporary upload ${key}: ${err.message}`));
    }
    await this.verifications.release(uploadId).catch((err: Error) => this.logger.warn(`could not release blob claims: ${err.message}`));
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

/** The sha256 and size the manifest field declares for a role, when it came before the file and says both. */
function declaredFile(manifestField: string | undefined, role: string): { sha256: string; size: number } | undefined {
  if (!manifestField) return undefined;
  try {
    const files = (JSON.parse(manifestField) as { files?: Array<{ role?: unknown; sha256?: unknown; size?: unknown }> }).files;
    const entry = Array.isArray(files) ? files.find((f) => f?.role === role) : undefined;
    if (entry && typeof entry.sha256 === 'string' && SHA256_PATTERN.test(entry.sha256) && Number.isSafeInteger(entry.size) && (entry.size as number) > 0) {
      return { sha256: entry.sha256, size: entry.size as number };
    }
  } catch {
    // an unreadable manifest is reported by checkRequest
  }
  return undefined;
}

/** The upload body stopped arriving; nothing is registered and the connection is closed. */
export class UploadIdleError extends DomainError {
  constructor(idleMs: number) {
    super(408, 'request_timeout', `no byte of the upload arrived for ${idleMs} ms (EDGELOOP_UPLOAD_IDLE_TIMEOUT_MS); nothing was registered`);
  }
}

/** The client went away mid-upload; nothing is answered, nothing is registered. */
export class ClientGoneError extends DomainError {
  constructor() {
    super(400, 'client_disconnected', 'the client disconnected before the upload finished');
  }
}

function drain(req: IncomingMessage): void {
  req.resume();
  req.on('error', () => undefined);
}
