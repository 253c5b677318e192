import { z } from 'zod';
import { IsoTimestampSchema } from '../identifiers';
import { DriftDetectedSchema } from '../webhooks';

/** `GET /api/v1/drift/events`: stored drift events, the same facts the `drift.detected` webhook carries. */
export const DriftEventResponseSchema = DriftDetectedSchema.extend({ detectedAt: IsoTimestampSchema });
export type DriftEventResponse = z.infer<typeof DriftEventResponseSchema>;

export const DriftEventListResponseSchema = z.object({ events: z.array(DriftEventResponseSchema) });
