import {
  apiPaths,
  describeZodError,
  ModelFileRole,
  RegisteredModelVersion,
  RegisteredModelVersionSchema,
  UPLOAD_MANIFEST_FIELD,
  UploadManifest,
  UploadManifestSchema,
} from '@edgeloop/contracts';
import { stat } from 'node:fs/promises';
import type { ApiClient } from './api-client';
import { sha256File } from './blob-download';
import { uploadMultipartParsed } from './multipart-upload';

/** A model file to upload and its role. */
export interface ModelFilePart {
  role: ModelFileRole;
  file: string;
}

/**
 * The `manifest` field of an upload: the caller's fields (labels, thresholds, metrics, parent, source, drift)
 * plus every file declared by role, sha256 and size — declared first, they let the registry stream each file
 * to storage while it arrives. Checked with the contract's `UploadManifestSchema`, the one the server reads, so
 * a field the server would refuse is refused here, before any byte is sent.
 */
export async function buildUploadManifest(files: ModelFilePart[], fields: unknown = {}): Promise<UploadManifest> {
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) throw new Error('the manifest must be a JSON object');
  const declared = await Promise.all(files.map(async (part) => ({ role: part.role, sha256: await sha256File(part.file), size: (await stat(part.file)).size })));
  const parsed = UploadManifestSchema.safeParse({ ...fields, files: declared });
  if (!parsed.success) throw new Error(`the manifest is invalid: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

/**
 * Uploads a new version of the model `name` (`POST /api/v1/models/{name}/versions`), streamed, with progress;
 * the answer is read with `RegisteredModelVersionSchema`.
 */
export async function uploadModelVersion(
  client: ApiClient,
  name: string,
  files: ModelFilePart[],
  fields: unknown = {},
  onProgress?: (sent: number, total: number) => void,
): Promise<RegisteredModelVersion> {
  const manifest = await buildUploadManifest(files, fields);
  const parts = files.map((part) => ({ field: part.role, file: part.file }));
  const fieldsSent = { [UPLOAD_MANIFEST_FIELD]: JSON.stringify(manifest) };
  return uploadMultipartParsed(client, apiPaths.modelVersions(name), RegisteredModelVersionSchema, parts, fieldsSent, onProgress);
}
