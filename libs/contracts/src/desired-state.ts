import { z } from 'zod';
import { API_PREFIX, MESSAGE_VERSION } from './protocol';
import {
  DeviceIdSchema,
  EpochMsSchema,
  ModelNameSchema,
  ModelVersionNumberSchema,
  RecordIdSchema,
  SHA256_PATTERN,
  Sha256Schema,
} from './identifiers';
import { MAX_MANIFEST_FILES, SignatureSchema, SignedManifestSchema } from './manifest';

/**
 * Desired state: cloud → edge on `…/{id}/desired`, retained, QoS 1, signed. Signed documents keep
 * unknown fields (loose objects) and have no defaults, so the parsed value is the signed value.
 */

/** The cloud-relative download path of a blob: `/api/v1/blobs/{sha256}`. */
export function blobPath(sha256: string): string {
  if (!SHA256_PATTERN.test(sha256)) throw new RangeError(`"${sha256.slice(0, 80)}" is not a lowercase hex sha256`);
  return `${API_PREFIX}/blobs/${sha256}`;
}

const CLOUD_PATH = /^\/[^\s?#]*(?:\?[^\s#]*)?$/;
const HTTP_URL = z.url({ protocol: /^https?$/ });

/**
 * Where to download one blob: a path relative to the cloud's base URL (`/api/v1/blobs/{sha256}`,
 * fetched with the device's HTTP token) or an absolute http(s) URL (for example presigned S3).
 */
export const BlobLocationSchema = z.looseObject({
  sha256: Sha256Schema,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  url: z
    .string()
    .max(4096)
    .refine(
      (url) => CLOUD_PATH.test(url) || HTTP_URL.safeParse(url).success,
      'a cloud path starting with / (like /api/v1/blobs/<sha256>) or an absolute http(s) URL',
    ),
});
export type BlobLocation = z.infer<typeof BlobLocationSchema>;

const desiredShape = {
  v: z.literal(MESSAGE_VERSION),
  /** The device this state is for: the edge refuses a desired state addressed to another id. */
  deviceId: DeviceIdSchema,
  deploymentId: RecordIdSchema,
  model: z.looseObject({ name: ModelNameSchema, version: ModelVersionNumberSchema }),
  manifest: SignedManifestSchema,
  /** One location per distinct file sha256 in the manifest. */
  blobs: z.array(BlobLocationSchema).min(1).max(MAX_MANIFEST_FILES),
  /** Allows the edge to go to a lower version than the one it runs. */
  rollback: z.boolean(),
  issuedAt: EpochMsSchema,
};

function checkDesired(
  desired: { model: { name: string; version: number }; manifest: z.infer<typeof SignedManifestSchema>; blobs: { sha256: string; size: number }[] },
  ctx: z.RefinementCtx,
): void {
  const { manifest } = desired.manifest;
  if (desired.model.name !== manifest.name || desired.model.version !== manifest.version) {
    ctx.addIssue({
      code: 'custom',
      path: ['model'],
      message: `model ${desired.model.name}@${desired.model.version} differs from the manifest's ${manifest.name}@${manifest.version}`,
    });
  }
  const located = new Map(desired.blobs.map((blob) => [blob.sha256, blob.size]));
  manifest.files.forEach((file, index) => {
    const size = located.get(file.sha256);
    if (size === undefined) {
      ctx.addIssue({ code: 'custom', path: ['blobs'], message: `no location for files[${index}] (${file.role}, sha256 ${file.sha256})` });
    } else if (size !== file.size) {
      ctx.addIssue({ code: 'custom', path: ['blobs'], message: `blob ${file.sha256} has size ${size}, the manifest says ${file.size}` });
    }
  });
}

/** What the cloud builds before signing. */
export const UnsignedDesiredStateSchema = z.looseObject(desiredShape).superRefine(checkDesired);
export type UnsignedDesiredState = z.infer<typeof UnsignedDesiredStateSchema>;

/** The retained message: the unsigned state plus `signature` over `canonicalJson(state without signature)`. */
export const DesiredStateSchema = z
  .looseObject({ ...desiredShape, signature: SignatureSchema })
  .superRefine(checkDesired);
export type DesiredState = z.infer<typeof DesiredStateSchema>;
