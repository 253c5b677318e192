import { Injectable } from '@nestjs/common';
import {
  describeZodError,
  fieldIssues,
  MODEL_FILE_ROLES,
  ModelFileRole,
  UPLOAD_MANIFEST_FIELD,
  UploadManifest,
  UploadManifestSchema,
} from '@edgeloop/contracts';
import busboy from 'busboy';
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CloudConfig } from '../config/cloud.config';
import { BadRequestError, DomainError, InvalidArtifactError, PayloadTooLargeError } from '../errors/domain.errors';
import { SINGLE_COPY_LIMIT } from '../repositories/blob.repository';
import { StagedBlob, UploadStaging } from './model-upload.staging';

/** One file part on local disk, hashed while it was written. */
export interface SpooledFile {
  role: ModelFileRole;
  fileName: string;
  path: string;
  sha256: string;
  size: number;
  /**
   * Set when the bytes also went to S3 while they were received (the manifest declared sha256 and size first):
   * they wait under a temporary key and reach their content address only once their hash matches.
   */
  staged?: StagedBlob;
}

/** A received upload: its files on disk, its manifest field parsed, until `dispose()` removes them. */
export interface SpooledUpload {
  /** The id the upload's blob claims are held under. */
  uploadId: string;
  files: SpooledFile[];
  manifest: UploadManifest;
  /** Removes the temporary files and objects and drops the upload's claims; call it once the upload is handled. */
  dispose(): Promise<void>;
}

const MAX_FILES = 16;
const MAX_MANIFEST_BYTES = 1024 * 1024;

/**
 * Reads a model upload off the wire: `multipart/form-data` with one part per file, named by its role, and an
 * optional `manifest` JSON field. Each file is streamed to a temporary file while its sha256 is computed (never
 * held whole in memory); when the manifest came first and declared a file's sha256 and size, a new blob also
 * goes to S3 while it is received (`UploadStaging`). Refuses, with the request drained: a body over
 * EDGELOOP_MAX_UPLOAD_BYTES (413, declared or counted), one that stops arriving for
 * EDGELOOP_UPLOAD_IDLE_TIMEOUT_MS (408), an unknown role, a role twice, an unknown field, too many parts, a
 * malformed body, no file, an empty file, an invalid manifest. On any failure everything it made is removed
 * before it throws.
 */
@Injectable()
export class ModelUploadSpooler {
  constructor(
    private readonly config: CloudConfig,
    private readonly staging: UploadStaging,
  ) {}

  async spool(req: IncomingMessage): Promise<SpooledUpload> {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > this.config.maxUploadBytes) {
      discardBody(req);
      throw new PayloadTooLargeError(this.config.maxUploadBytes);
    }
    const contentType = req.headers['content-type'] ?? '';
    if (!/^multipart\/form-data/i.test(contentType)) {
      discardBody(req);
      throw new BadRequestError('not_multipart', 'the upload must be multipart/form-data with one part per file, named by its role');
    }
    const dir = await mkdtemp(join(tmpdir(), 'edgeloop-upload-'));
    const uploadId = randomUUID();
    const tempKeys: string[] = [];
    const spooling: Promise<void>[] = [];
    let disposed: Promise<void> | undefined;
    const dispose = () =>
      (disposed ??= (async () => {
        await this.staging.removeTemporary(tempKeys);
        await this.staging.releaseClaims(uploadId);
        await rm(dir, { recursive: true, force: true });
      })());
    try {
      const { files, manifestField } = await this.receive(req, dir, uploadId, tempKeys, spooling);
      return { uploadId, files, manifest: readManifest(files, manifestField), dispose };
    } catch (err) {
      await dispose();
      // a part still on its way to S3 when the body failed may name its temporary object only now
      void Promise.allSettled(spooling).then(() => this.staging.removeTemporary(tempKeys));
      throw err;
    }
  }

  /** Streams the multipart body: files to disk with their hash, the manifest field into memory (bounded). */
  private receive(
    req: IncomingMessage,
    dir: string,
    uploadId: string,
    tempKeys: string[],
    spooling: Promise<void>[],
  ): Promise<{ files: SpooledFile[]; manifestField?: string }> {
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
          limits: { fileSize: limit, files: MAX_FILES, fields: 8, fieldSize: MAX_MANIFEST_BYTES, parts: 32 },
        });
      } catch (err) {
        discardBody(req);
        reject(new BadRequestError('not_multipart', `the multipart body cannot be read: ${(err as Error).message}`));
        return;
      }
      const files: SpooledFile[] = [];
      let manifestField: string | undefined;
      let declaredManifest: UploadManifest | undefined;
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
        const declared = declaredFile(declaredManifest, role);
        stream.pause();
        spooling.push(
          (async () => {
            // with a declared sha256 and size, a new blob goes to S3 while it is received, at the same time as
            // it is hashed and spooled for validation — to a temporary key, moved to its content address only
            // if the computed hash is the declared one
            const direct =
              declared && declared.size <= SINGLE_COPY_LIMIT && !(await this.staging.verifiedPresent(declared, uploadId)) ? new PassThrough() : undefined;
            if (direct) {
              file.staged = this.staging.newStagedBlob(declared!);
              tempKeys.push(file.staged.tempKey);
            }
            const upload = direct ? this.staging.put(file.staged!, role, direct) : undefined;
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
        if (field !== UPLOAD_MANIFEST_FIELD) {
          fail(new BadRequestError('unknown_field', `unknown form field "${field}"; only "${UPLOAD_MANIFEST_FIELD}" and files by role`));
        } else if (info.valueTruncated) {
          fail(new BadRequestError('invalid_manifest', 'the manifest field is over 1 MiB'));
        } else {
          manifestField = value;
          declaredManifest = parseManifest(value).manifest;
        }
      });
      parser.on('filesLimit', () => fail(new BadRequestError('too_many_files', `at most ${MAX_FILES} files per upload`)));
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
        discardBody(req);
        Promise.allSettled(spooling).then(() => reject(failure));
      });
    });
  }
}

/** The checks that need the whole body: at least one file, none empty, a manifest field the contract accepts. */
function readManifest(files: SpooledFile[], manifestField: string | undefined): UploadManifest {
  if (files.length === 0) {
    throw new BadRequestError('missing_file', 'the upload has no file part; send each model file as a part named by its role');
  }
  for (const file of files) {
    if (file.size === 0) {
      throw new InvalidArtifactError(`the ${file.role} file "${file.fileName}" is empty`, [{ role: file.role, code: 'empty_file' }]);
    }
  }
  if (manifestField === undefined) return {};
  const parsed = parseManifest(manifestField);
  if (parsed.error) throw parsed.error;
  return parsed.manifest!;
}

function parseManifest(field: string): { manifest?: UploadManifest; error?: BadRequestError } {
  let raw: unknown;
  try {
    raw = JSON.parse(field);
  } catch (err) {
    return { error: new BadRequestError('invalid_manifest', `the manifest field is not valid JSON: ${(err as Error).message}`) };
  }
  const parsed = UploadManifestSchema.safeParse(raw);
  if (!parsed.success) {
    return { error: new BadRequestError('invalid_manifest', `the manifest is invalid: ${describeZodError(parsed.error)}`, fieldIssues(parsed.error)) };
  }
  return { manifest: parsed.data };
}

/** The sha256 and size a valid manifest field declares for a role, when it came before the file and says both. */
function declaredFile(manifest: UploadManifest | undefined, role: ModelFileRole): { sha256: string; size: number } | undefined {
  const entry = manifest?.files?.find((f) => f.role === role);
  if (entry?.sha256 === undefined || entry.size === undefined || entry.size === 0) return undefined;
  return { sha256: entry.sha256, size: entry.size };
}

/** Reads and throws away what is left of a refused request's body, so that the answer can be sent. */
export function discardBody(req: IncomingMessage): void {
  req.resume();
  req.on('error', () => undefined);
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
