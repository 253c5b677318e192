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

/** A registered version: the signed manifest plus registry facts (the answer of an upload). */
export const RegisteredModelVersionSchema = z.object({
  name: ModelNameSchema,
  version: ModelVersionNumberSchema,
  /** The version it was derived from, when the upload named one. */
  parent: ModelVersionNumberSchema.nullable(),
  manifest: ModelManifestSchema,
  signature: SignatureSchema,
  /** Who uploaded it (the API token), when known. */
  createdBy: z.string().nullable(),
  createdAt: IsoTimestampSchema,
});
export type RegisteredModelVersion = z.infer<typeof RegisteredModelVersionSchema>;

/** One version as the registry returns it (`GET …/versions[/{ref}]`): with the aliases that point at it. */
export const ModelVersionResponseSchema = RegisteredModelVersionSchema.extend({ aliases: z.array(AliasSchema) });
export type ModelVersionResponse = z.infer<typeof ModelVersionResponseSchema>;

export const ModelVersionListResponseSchema = z.object({ versions: z.array(ModelVersionResponseSchema) });

export const ModelSummarySchema = z.object({
  name: ModelNameSchema,
  latestVersion: ModelVersionNumberSchema.nullable(),
  /** How many versions it has. */
  versions: z.number().int().nonnegative(),
  aliases: z.record(AliasSchema, ModelVersionNumberSchema),
  createdAt: IsoTimestampSchema,
});
export type ModelSummary = z.infer<typeof ModelSummarySchema>;

export const ModelListResponseSchema = z.object({ models: z.array(ModelSummarySchema) });

/** `GET /api/v1/models/{name}/aliases`: alias → version. */
export const ModelAliasesResponseSchema = z.object({ aliases: z.record(AliasSchema, ModelVersionNumberSchema) });

/** `PUT /api/v1/models/{name}/aliases/{alias}`. */
export const SetAliasRequestSchema = z.strictObject({ version: ModelVersionNumberSchema });
export type SetAliasRequest = z.infer<typeof SetAliasRequestSchema>;

export const SetAliasResponseSchema = z.object({ name: ModelNameSchema, alias: AliasSchema, version: ModelVersionNumberSchema });
export type SetAliasResponse = z.infer<typeof SetAliasResponseSchema>;

/** `GET /api/v1/keys`: the registry's signing keys, SPKI PEM. */
export const PublicKeysResponseSchema = z.object({
  keys: z
    .array(z.object({ keyId: z.string().min(1).max(128), alg: z.literal(SIGNATURE_ALGORITHM), publicKey: z.string().startsWith('-----BEGIN PUBLIC KEY-----') }))
    .min(1),
});
export type PublicKeysResponse = z.infer<typeof PublicKeysResponseSchema>;
