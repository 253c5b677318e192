import { z } from 'zod';
import { DEVICE_ID_PATTERN, DeviceIdSchema, IdentityLabelSchema, IsoTimestampSchema, ModelVersionRefSchema, RECORD_ID_PATTERN } from '../identifiers';
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

/** A stored hard example's id: the device's id and the example's own id (unique per device), `{deviceId}.{id}`. */
export const HardExampleIdSchema = z.string().refine((id) => {
  const dot = id.indexOf('.');
  return dot > 0 && DEVICE_ID_PATTERN.test(id.slice(0, dot)) && RECORD_ID_PATTERN.test(id.slice(dot + 1));
}, 'a hard example id is {deviceId}.{id}');

export const HardExampleResponseSchema = z.object({
  id: HardExampleIdSchema,
  deviceId: DeviceIdSchema,
  model: ModelVersionRefSchema,
  reason: z.enum(HARD_EXAMPLE_REASONS),
  candidate: IdentityLabelSchema.nullable(),
  /** Top-1 score and top-1 minus top-2, as the device sent them (null for a model without a head). */
  score: z.number().nullable(),
  margin: z.number().nullable(),
  /** The face detector's confidence. */
  detScore: z.number(),
  capturedAt: IsoTimestampSchema,
  receivedAt: IsoTimestampSchema,
  /** A crop URL (`/api/v1/hard-examples/{id}/crop`) when the device sent a crop. */
  cropUrl: z.string().nullable(),
  label: HardExampleLabelSchema.and(z.object({ labeledAt: IsoTimestampSchema, labeledBy: z.string().nullable() })).nullable(),
});
export type HardExampleResponse = z.infer<typeof HardExampleResponseSchema>;

/** `GET /api/v1/hard-examples`. */
export const HardExampleListResponseSchema = z.object({ hardExamples: z.array(HardExampleResponseSchema) });
