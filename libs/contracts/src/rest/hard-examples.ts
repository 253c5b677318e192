import { z } from 'zod';
import { DeviceIdSchema, IdentityLabelSchema, IsoTimestampSchema, ModelVersionRefSchema, RecordIdSchema } from '../identifiers';
import { HARD_EXAMPLE_REASONS } from '../predictions';

/** Labeling queue DTOs: `GET /api/v1/hard-examples`, `POST /api/v1/hard-examples/{id}/label`. */

export const HardExampleLabelSchema = z.discriminatedUnion('verdict', [
  z.strictObject({ verdict: z.literal('identity'), identity: IdentityLabelSchema }),
  z.strictObject({ verdict: z.literal('not_a_face') }),
]);
export type HardExampleLabel = z.infer<typeof HardExampleLabelSchema>;

/** The body of `POST …/{id}/label`. */
export const LabelHardExampleRequestSchema = HardExampleLabelSchema;
export type LabelHardExampleRequest = HardExampleLabel;

export const HardExampleResponseSchema = z.object({
  id: RecordIdSchema,
  deviceId: DeviceIdSchema,
  model: ModelVersionRefSchema,
  reason: z.enum(HARD_EXAMPLE_REASONS),
  candidate: IdentityLabelSchema.nullable(),
  score: z.number(),
  margin: z.number(),
  capturedAt: IsoTimestampSchema,
  /** A crop URL (`/api/v1/hard-examples/{id}/crop`) when the device sent a crop. */
  cropUrl: z.string().nullable(),
  label: HardExampleLabelSchema.and(z.object({ labeledAt: IsoTimestampSchema })).nullable(),
});
export type HardExampleResponse = z.infer<typeof HardExampleResponseSchema>;

/** `GET /api/v1/hard-examples`. */
export const HardExampleListResponseSchema = z.object({ hardExamples: z.array(HardExampleResponseSchema) });
