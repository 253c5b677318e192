import { z } from 'zod';
import { IsoTimestampSchema, ModelNameSchema, ModelVersionNumberSchema, AliasSchema } from '../identifiers';
import { ModelManifestSchema, SignatureSchema, SIGNATURE_ALGORITHM } from '../manifest';

/**
 * Model registry DTOs. Upload is `POST /api/v1/models/{name}/versions`, multipart: each file part's
 * field name is its role (`detector`, `embedder`, `head`, …), plus an optional JSON text field
 * `manifest` read with `UploadManifestSchema` (manifest.ts). The registry fills in name, version, sizes
 * and hashes.
 */
export const UPLOAD_MANIFEST_FIELD = 'manifest';

/** One version as the registry returns it: the signed manifest plus registry facts. */
export const ModelVersionResponseSchema = z.object({
  name: ModelNameSchema,
  version: ModelVersionNumberSchema,
  manifest: ModelManifestSchema,
  signature: SignatureSchema,
  aliases: z.array(AliasSchema),
  createdAt: IsoTimestampSchema,
});
export type ModelVersionResponse = z.infer<typeof ModelVersionResponseSchema>;

export const ModelSummarySchema = z.object({
  name: ModelNameSchema,
  latestVersion: ModelVersionNumberSchema.nullable(),
  aliases: z.record(AliasSchema, ModelVersionNumberSchema),
  createdAt: IsoTimestampSchema,
});
export type ModelSummary = z.infer<typeof ModelSummarySchema>;

/** `PUT /api/v1/models/{name}/aliases/{alias}`. */
export const SetAliasRequestSchema = z.strictObject({ version: ModelVersionNumberSchema });
export type SetAliasRequest = z.infer<typeof SetAliasRequestSchema>;

/** `GET /api/v1/keys`: the registry's signing keys, SPKI PEM. */
export const PublicKeysResponseSchema = z.object({
  keys: z
    .array(z.object({ keyId: z.string().min(1).max(128), alg: z.literal(SIGNATURE_ALGORITHM), publicKey: z.string().startsWith('-----BEGIN PUBLIC KEY-----') }))
    .min(1),
});
export type PublicKeysResponse = z.infer<typeof PublicKeysResponseSchema>;
