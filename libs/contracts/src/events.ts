import { z } from 'zod';
import { DeviceIdSchema, IsoTimestampSchema, ModelNameSchema, ModelVersionNumberSchema, RecordIdSchema } from './identifiers';
import { WEBHOOK_EVENT_SCHEMAS } from './webhooks';

/**
 * Domain events: what one cloud feature tells the others. Every webhook event type is a domain event
 * (the webhooks feature forwards those to subscribers); the others feed the dashboard's live stream
 * (`GET /api/v1/events`, server-sent events). Each replica relays its events through Redis pub/sub on
 * `DOMAIN_EVENTS_CHANNEL`, so a stream served by any API replica sees the events of all of them.
 */
export const DOMAIN_EVENT_SCHEMAS = {
  ...WEBHOOK_EVENT_SCHEMAS,
  /** A rollout moved on (a wave published, a device changed phase, a gate decided). */
  'deployment.progress': z.object({ deploymentId: RecordIdSchema, status: z.string().min(1).max(32) }),
  /** A device reported a new state or its presence changed. */
  'device.changed': z.object({ deviceId: DeviceIdSchema, online: z.boolean().optional() }),
  /** Hard examples got a label (one operator action may label many). */
  'hard-example.labelled': z.object({ ids: z.array(z.string().min(1).max(200)).min(1).max(10_000), label: z.string().min(1).max(200) }),
  /** An identity was created, renamed, merged, deleted, or gained or lost enrolment photos. */
  'identity.changed': z.object({ identityId: RecordIdSchema, change: z.enum(['created', 'updated', 'photos', 'merged', 'deleted']) }),
  /** A retraining run was queued, moved to another step, or finished. */
  'retraining.progress': z.object({
    runId: RecordIdSchema,
    modelName: ModelNameSchema,
    status: z.string().min(1).max(32),
    step: z.string().min(1).max(64).nullable(),
    progress: z.number().min(0).max(1),
  }),
  /** An alias (`production`, `candidate`, …) now points at another version. */
  'model.alias.changed': z.object({ modelName: ModelNameSchema, alias: z.string().min(1).max(64), version: ModelVersionNumberSchema }),
} as const;

export type DomainEventType = keyof typeof DOMAIN_EVENT_SCHEMAS;
export const DOMAIN_EVENT_TYPES = Object.keys(DOMAIN_EVENT_SCHEMAS) as [DomainEventType, ...DomainEventType[]];
export type DomainEventData<T extends DomainEventType> = z.output<(typeof DOMAIN_EVENT_SCHEMAS)[T]>;

/** One event as listeners and the live stream receive it. */
export interface DomainEvent<T extends DomainEventType = DomainEventType> {
  id: string;
  type: T;
  at: string;
  data: DomainEventData<T>;
}

/** Redis pub/sub channel that carries every replica's domain events to every replica's live stream. */
export const DOMAIN_EVENTS_CHANNEL = 'edgeloop:events';

/** A domain event read back from the channel: the envelope, with `data` checked against its type's schema. */
export const DomainEventSchema = z
  .object({ id: z.string().min(1).max(64), type: z.enum(DOMAIN_EVENT_TYPES), at: IsoTimestampSchema, data: z.unknown() })
  .transform((event, ctx) => {
    const data = (DOMAIN_EVENT_SCHEMAS[event.type] as z.ZodType).safeParse(event.data);
    if (!data.success) {
      for (const issue of data.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: ['data', ...issue.path] });
      return z.NEVER;
    }
    return { ...event, data: data.data } as DomainEvent;
  });
