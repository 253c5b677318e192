import { z } from 'zod';
import { IdentityLabelSchema, IsoTimestampSchema, ModelReferenceSchema, RecordIdSchema, Sha256Schema } from '../identifiers';
import { API_PREFIX } from '../protocol';

/**
 * The gallery: identities (people) and their enrolment photos, and the labelling of hard examples in bulk.
 * `POST/GET /api/v1/identities`, `GET/PATCH/DELETE /api/v1/identities/{id}`, `POST /api/v1/identities/{id}/merge`,
 * `POST/GET /api/v1/identities/{id}/photos`, `DELETE /api/v1/identities/{id}/photos/{photoId}`,
 * `GET /api/v1/identities/{id}/photos/{photoId}/crop`, `GET /api/v1/hard-examples/clusters`,
 * `POST /api/v1/hard-examples/labels`.
 */

/** Most photos in one enrolment request, and the largest photo. */
export const MAX_ENROLMENT_PHOTOS = 32;
export const MAX_ENROLMENT_PHOTO_BYTES = 15 * 1024 * 1024;
/** All photos of one request together (they are held in memory while the face worker takes them one by one). */
export const MAX_ENROLMENT_REQUEST_BYTES = 64 * 1024 * 1024;

/** An identity's name is the label its head outputs; the display name is for people. */
export const CreateIdentityRequestSchema = z.strictObject({
  name: IdentityLabelSchema,
  displayName: z.string().trim().min(1).max(200).optional(),
});
export type CreateIdentityRequest = z.infer<typeof CreateIdentityRequestSchema>;

/** Rename (the label changes everywhere it is used for training) and/or change the display name. */
export const UpdateIdentityRequestSchema = z
  .strictObject({
    name: IdentityLabelSchema.optional(),
    displayName: z.string().trim().min(1).max(200).nullable().optional(),
  })
  .refine((body) => body.name !== undefined || body.displayName !== undefined, 'give name and/or displayName');
export type UpdateIdentityRequest = z.infer<typeof UpdateIdentityRequestSchema>;

/** Merge: every photo and hard-example label of `from` moves to the identity in the URL; `from` is deleted. */
export const MergeIdentityRequestSchema = z.strictObject({ from: z.string().min(1).max(200) });
export type MergeIdentityRequest = z.infer<typeof MergeIdentityRequestSchema>;

export const IdentitySchema = z.object({
  id: RecordIdSchema,
  name: IdentityLabelSchema,
  displayName: z.string().nullable(),
  photos: z.number().int().nonnegative(),
  createdAt: IsoTimestampSchema,
  updatedAt: IsoTimestampSchema,
});
export type Identity = z.infer<typeof IdentitySchema>;

export const EnrolmentPhotoSchema = z.object({
  id: RecordIdSchema,
  identityId: RecordIdSchema,
  /** sha256 of the aligned 112×112 PNG crop (content-addressed in S3). */
  cropSha256: Sha256Schema,
  cropUrl: z.string(),
  sourceName: z.string(),
  sourceSize: z.number().int().nonnegative(),
  detectionScore: z.number(),
  /** sha256 of the embedders this photo has an embedding for. */
  embedders: z.array(Sha256Schema),
  createdAt: IsoTimestampSchema,
});
export type EnrolmentPhoto = z.infer<typeof EnrolmentPhotoSchema>;

export const IdentityListResponseSchema = z.object({ identities: z.array(IdentitySchema) });

/** `GET /api/v1/identities/{id}`: the identity with its enrolment photos. */
export const IdentityDetailResponseSchema = IdentitySchema.extend({ enrolmentPhotos: z.array(EnrolmentPhotoSchema) });
export type IdentityDetail = z.infer<typeof IdentityDetailResponseSchema>;

/** Why a photo was refused (422 when every photo of the request was refused). */
export const ENROLMENT_REFUSALS = ['not_an_image', 'image_too_large', 'no_face', 'several_faces'] as const;
export type EnrolmentRefusal = (typeof ENROLMENT_REFUSALS)[number];

/** Per photo of `POST …/photos`, in the order sent: stored, or refused with the reason. */
export const EnrolmentResultSchema = z.discriminatedUnion('status', [
  z.object({ file: z.string(), status: z.literal('enrolled'), photo: EnrolmentPhotoSchema }),
  z.object({ file: z.string(), status: z.literal('refused'), error: z.enum(ENROLMENT_REFUSALS), message: z.string(), faces: z.number().int().optional() }),
]);
export type EnrolmentResult = z.infer<typeof EnrolmentResultSchema>;

export const EnrolmentResponseSchema = z.object({
  identity: IdentitySchema,
  /** The embedder the photos were embedded with (`model`'s embedder). */
  model: z.object({ name: z.string(), version: z.number().int(), embedderSha256: Sha256Schema }),
  enrolled: z.number().int().nonnegative(),
  refused: z.number().int().nonnegative(),
  results: z.array(EnrolmentResultSchema),
});
export type EnrolmentResponse = z.infer<typeof EnrolmentResponseSchema>;

/** `?model=face-id@production` on enrolment and clustering: whose embedder to use (default: the configured one). */
export const EmbedderQuerySchema = z.strictObject({ model: ModelReferenceSchema.optional() });

/** A label for many hard examples at once; `unknown` confirms a stranger (a negative for training). */
export const HardExampleVerdictSchema = z.discriminatedUnion('verdict', [
  z.strictObject({ verdict: z.literal('identity'), identity: IdentityLabelSchema }),
  z.strictObject({ verdict: z.literal('not_a_face') }),
  z.strictObject({ verdict: z.literal('unknown') }),
]);
export type HardExampleVerdict = z.infer<typeof HardExampleVerdictSchema>;

export const LabelHardExamplesRequestSchema = z.strictObject({
  ids: z
    .array(z.string().min(1).max(200))
    .min(1)
    .max(5000)
    .refine((ids) => new Set(ids).size === ids.length, 'ids must be unique'),
  label: HardExampleVerdictSchema,
});
export type LabelHardExamplesRequest = z.infer<typeof LabelHardExamplesRequestSchema>;

export const LabelHardExamplesResponseSchema = z.object({ labelled: z.number().int(), label: HardExampleVerdictSchema });
export type LabelHardExamplesResponse = z.infer<typeof LabelHardExamplesResponseSchema>;

export const HardExampleClustersQuerySchema = z.strictObject({
  model: ModelReferenceSchema.optional(),
  threshold: z.coerce.number().min(-1).max(1).optional(),
  minSize: z.coerce.number().int().min(1).max(1000).optional(),
  limit: z.coerce.number().int().min(1).max(5000).optional(),
});

/** A suggested new person: unknown, unlabelled hard examples that look alike. */
export const HardExampleClusterSchema = z.object({
  ids: z.array(z.string()),
  size: z.number().int().positive(),
  /** Mean pairwise cosine between members. */
  cohesion: z.number(),
  /** The member closest to the cluster's centre: the crop to show. */
  representativeId: z.string(),
  representativeCropUrl: z.string().nullable(),
});
export type HardExampleCluster = z.infer<typeof HardExampleClusterSchema>;

export const HardExampleClustersResponseSchema = z.object({
  model: z.object({ name: z.string(), version: z.number().int(), embedderSha256: Sha256Schema }),
  /** Unknown, unlabelled examples considered (embedded with this embedder, or re-embedded from their crop). */
  considered: z.number().int().nonnegative(),
  clusters: z.array(HardExampleClusterSchema),
});
export type HardExampleClustersResponse = z.infer<typeof HardExampleClustersResponseSchema>;

const seg = (value: string | number): string => encodeURIComponent(String(value));

export const identityPaths = {
  identities: () => `${API_PREFIX}/identities`,
  identity: (id: string) => `${API_PREFIX}/identities/${seg(id)}`,
  merge: (id: string) => `${API_PREFIX}/identities/${seg(id)}/merge`,
  photos: (id: string) => `${API_PREFIX}/identities/${seg(id)}/photos`,
  photo: (id: string, photoId: string) => `${API_PREFIX}/identities/${seg(id)}/photos/${seg(photoId)}`,
  photoCrop: (id: string, photoId: string) => `${API_PREFIX}/identities/${seg(id)}/photos/${seg(photoId)}/crop`,
  hardExampleClusters: () => `${API_PREFIX}/hard-examples/clusters`,
  hardExampleLabels: () => `${API_PREFIX}/hard-examples/labels`,
};
