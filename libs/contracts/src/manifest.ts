import { z } from 'zod';
import { MANIFEST_SCHEMA } from './protocol';
import {
  IdentityLabelSchema,
  IsoTimestampSchema,
  ModelNameSchema,
  ModelVersionNumberSchema,
  Sha256Schema,
} from './identifiers';

/**
 * The model bundle manifest (`edgeloop.model/v1`): what a version is made of. It is signed, so its
 * schemas keep fields they do not know (loose objects) and never fill in defaults: the value a
 * reader gets back from parsing is exactly the value that was signed.
 */

export const MODEL_FILE_ROLES = ['detector', 'landmarks', 'embedder', 'head', 'liveness'] as const;
export type ModelFileRole = (typeof MODEL_FILE_ROLES)[number];
export const ModelFileRoleSchema = z.enum(MODEL_FILE_ROLES);

export const MODEL_FILE_FORMATS = ['onnx', 'ort'] as const;
export type ModelFileFormat = (typeof MODEL_FILE_FORMATS)[number];

export const MAX_MANIFEST_FILES = 16;
export const MAX_MANIFEST_LABELS = 100_000;

/** A relative path inside the bundle: segments of A-Z a-z 0-9 . _ -, no `..`, no leading `/`. */
export const BUNDLE_PATH_PATTERN = /^(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

const unitInterval = z.number().min(0).max(1);

export const ModelFileSchema = z.looseObject({
  role: ModelFileRoleSchema,
  sha256: Sha256Schema,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  format: z.enum(MODEL_FILE_FORMATS),
  path: z
    .string()
    .max(255)
    .regex(BUNDLE_PATH_PATTERN, 'a relative path of A-Z a-z 0-9 . _ - segments, without . or .. segments')
    .optional(),
});
export type ModelFile = z.infer<typeof ModelFileSchema>;

/** Thresholds: `detection` (face score) and `match` (cosine score for an identity); others may be added. */
export const ModelThresholdsSchema = z
  .object({ detection: unitInterval, match: unitInterval, margin: unitInterval.optional() })
  .catchall(z.number());
export type ModelThresholds = z.infer<typeof ModelThresholdsSchema>;

/** Evaluation figures recorded with the version (`accuracy`, `tarAtFar1e-3`, …). */
export const ModelMetricsSchema = z.record(z.string().min(1).max(64), z.number());

export const ModelManifestSchema = z
  .looseObject({
    schema: z.literal(MANIFEST_SCHEMA),
    name: ModelNameSchema,
    version: ModelVersionNumberSchema,
    parent: ModelVersionNumberSchema.optional(),
    files: z.array(ModelFileSchema).min(1).max(MAX_MANIFEST_FILES),
    labels: z.array(IdentityLabelSchema).max(MAX_MANIFEST_LABELS),
    thresholds: ModelThresholdsSchema,
    metrics: ModelMetricsSchema,
    createdBy: z.string().min(1).max(128),
    createdAt: IsoTimestampSchema.optional(),
    /** Where the weights came from, e.g. an npm package or a training run. */
    source: z.string().max(256).optional(),
  })
  .superRefine((manifest, ctx) => {
    const seen = new Map<string, number>();
    manifest.files.forEach((file, index) => {
      const first = seen.get(file.role);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['files', index, 'role'],
          message: `role "${file.role}" appears twice (files[${first}] and files[${index}]); each role at most once`,
        });
      } else seen.set(file.role, index);
    });
    if (seen.has('head') && manifest.labels.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['labels'], message: 'a bundle with a head needs its labels (one per head output)' });
    }
    const labels = new Set<string>();
    manifest.labels.forEach((label, index) => {
      if (labels.has(label)) {
        ctx.addIssue({ code: 'custom', path: ['labels', index], message: `label "${label}" appears twice` });
      }
      labels.add(label);
    });
    if (manifest.parent !== undefined && manifest.parent >= manifest.version) {
      ctx.addIssue({ code: 'custom', path: ['parent'], message: `parent ${manifest.parent} must be lower than version ${manifest.version}` });
    }
  });
export type ModelManifest = z.infer<typeof ModelManifestSchema>;

/**
 * The optional `manifest` form field of an upload (`POST /api/v1/models/{name}/versions`), the one schema the
 * server, `edgeloop models push` and @edgeloop/client use. The client says what it knows — labels,
 * thresholds, metrics, parent, source, drift settings, and each file's role with its sha256 and size (declared
 * first, they let the registry stream the file to storage while it arrives). The registry fills in name,
 * version, formats, createdBy and createdAt, so those are refused here, as is any field it would not read.
 */
export const UploadManifestFileSchema = z.strictObject({
  role: ModelFileRoleSchema,
  sha256: Sha256Schema.optional(),
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
});
export type UploadManifestFile = z.infer<typeof UploadManifestFileSchema>;

export const UploadManifestSchema = z.strictObject({
  schema: z.literal(MANIFEST_SCHEMA).optional(),
  parent: ModelVersionNumberSchema.optional(),
  labels: z.array(IdentityLabelSchema).max(MAX_MANIFEST_LABELS).optional(),
  thresholds: ModelThresholdsSchema.optional(),
  metrics: ModelMetricsSchema.optional(),
  source: z.string().max(256).optional(),
  /** Per-model drift settings and, optionally, the statistics recorded at training time as the reference; the registry checks them with the drift detector's own parsers. */
  drift: z.strictObject({ thresholds: z.unknown().optional(), alarm: z.unknown().optional(), reference: z.unknown().optional() }).optional(),
  /** Files the client sends in this upload; every one must arrive as a part, with the declared sum and size. */
  files: z
    .array(UploadManifestFileSchema)
    .max(MAX_MANIFEST_FILES)
    .superRefine((files, ctx) => {
      files.forEach((file, index) => {
        const first = files.findIndex((other) => other.role === file.role);
        if (first !== index) ctx.addIssue({ code: 'custom', path: [index, 'role'], message: `role "${file.role}" appears twice (files[${first}] and files[${index}])` });
      });
    })
    .optional(),
});
export type UploadManifest = z.infer<typeof UploadManifestSchema>;

export const SIGNATURE_ALGORITHM = 'ed25519';

/** An ed25519 signature is 64 bytes: 88 base64 characters with padding. */
export const SignatureSchema = z.looseObject({
  alg: z.literal(SIGNATURE_ALGORITHM),
  keyId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'a key id is 1-128 of A-Z a-z 0-9 . _ : -'),
  value: z.base64().length(88, 'an ed25519 signature is 88 base64 characters'),
});
export type Signature = z.infer<typeof SignatureSchema>;

/** A manifest and the signature over `canonicalJson(manifest)`. */
export const SignedManifestSchema = z.looseObject({ manifest: ModelManifestSchema, signature: SignatureSchema });
export type SignedManifest = z.infer<typeof SignedManifestSchema>;

/** The file of a role, if the bundle has one. */
export function manifestFile(manifest: ModelManifest, role: ModelFileRole): ModelFile | undefined {
  return manifest.files.find((file) => file.role === role);
}
