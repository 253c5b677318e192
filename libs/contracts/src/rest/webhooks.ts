import { z } from 'zod';
import { IsoTimestampSchema, RecordIdSchema } from '../identifiers';
import { WEBHOOK_EVENT_TYPES } from '../webhooks';

/** Webhook subscription DTOs: `POST/GET/DELETE /api/v1/webhooks`, deliveries and redelivery. */

export const WEBHOOK_ALL_EVENTS = '*';

const WebhookEventSelectorSchema = z.enum([...WEBHOOK_EVENT_TYPES, WEBHOOK_ALL_EVENTS]);

export const CreateWebhookRequestSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'an absolute http(s) URL' }).max(2048),
  /** Event types to receive, or `["*"]` for all. */
  events: z
    .array(WebhookEventSelectorSchema)
    .min(1)
    .refine((events) => new Set(events).size === events.length, 'event types must be unique'),
  /** HMAC secret; the cloud generates one (returned once) when absent. */
  secret: z.string().min(16).max(256).optional(),
  description: z.string().max(500).optional(),
});
export type CreateWebhookRequest = z.infer<typeof CreateWebhookRequestSchema>;

export const WebhookSubscriptionSchema = z.object({
  id: RecordIdSchema,
  url: z.string(),
  events: z.array(WebhookEventSelectorSchema),
  description: z.string().nullable(),
  createdAt: IsoTimestampSchema,
  /** Present only in the response that created the subscription. */
  secret: z.string().optional(),
});
export type WebhookSubscription = z.infer<typeof WebhookSubscriptionSchema>;

export const WebhookListResponseSchema = z.object({ webhooks: z.array(WebhookSubscriptionSchema) });

export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'succeeded', 'failed'] as const;

export const WebhookAttemptSchema = z.object({
  attempt: z.number().int().positive(),
  at: IsoTimestampSchema,
  /** Null when no HTTP answer came (connection refused, timeout). */
  statusCode: z.number().int().nullable(),
  latencyMs: z.number().nonnegative(),
  error: z.string().nullable(),
  /** The first bytes of the receiver's answer. */
  responseExcerpt: z.string().max(1024).nullable(),
  /** When the next attempt is due after this one failed; null when none follows. */
  nextRetryAt: IsoTimestampSchema.nullable().optional(),
});

export const WebhookDeliverySchema = z.object({
  id: RecordIdSchema,
  webhookId: RecordIdSchema,
  eventId: RecordIdSchema,
  event: z.enum(WEBHOOK_EVENT_TYPES),
  status: z.enum(WEBHOOK_DELIVERY_STATUSES),
  attempts: z.array(WebhookAttemptSchema),
  createdAt: IsoTimestampSchema,
  /** The delivery this one repeats, for a redelivery. */
  redeliveryOf: RecordIdSchema.nullable().optional(),
  /** When the next attempt is due; null once delivered or failed. */
  nextRetryAt: IsoTimestampSchema.nullable().optional(),
});
export type WebhookDelivery = z.infer<typeof WebhookDeliverySchema>;

/** `GET /api/v1/webhooks/{id}/deliveries`, newest first. */
export const WebhookDeliveryListResponseSchema = z.object({ deliveries: z.array(WebhookDeliverySchema) });
