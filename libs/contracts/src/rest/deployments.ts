import { z } from 'zod';
import {
  DeviceIdSchema,
  DeviceLabelsSchema,
  GroupSchema,
  IsoTimestampSchema,
  ModelReferenceSchema,
  ModelVersionRefSchema,
  RecordIdSchema,
} from '../identifiers';
import { DEPLOY_FAILURE_CODES, DEVICE_STATES } from '../reported-state';

/** Rollout DTOs: `POST /api/v1/deployments`, `GET /api/v1/deployments[/{id}]`, `POST …/{id}/rollback`. */

export const MAX_TARGET_DEVICES = 10_000;

/** Exactly one of: explicit device ids, a group, or a label selector (every label must match). */
export const DeploymentTargetSchema = z
  .strictObject({
    devices: z.array(DeviceIdSchema).min(1).max(MAX_TARGET_DEVICES).optional(),
    group: GroupSchema.optional(),
    selector: DeviceLabelsSchema.optional(),
  })
  .superRefine((target, ctx) => {
    const given = (['devices', 'group', 'selector'] as const).filter((key) => target[key] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({ code: 'custom', message: `give exactly one of devices, group, selector (got ${given.length === 0 ? 'none' : given.join(', ')})` });
    }
    if (target.selector !== undefined && Object.keys(target.selector).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['selector'], message: 'a selector needs at least one label' });
    }
    if (target.devices !== undefined && new Set(target.devices).size !== target.devices.length) {
      ctx.addIssue({ code: 'custom', path: ['devices'], message: 'device ids must be unique' });
    }
  });
export type DeploymentTarget = z.infer<typeof DeploymentTargetSchema>;

export const CanaryStrategySchema = z.strictObject({
  type: z.literal('canary'),
  /** Share of the target devices in the canary batch: the most devices whose share does not exceed it, at least one. */
  percent: z.number().gt(0).max(100),
  /** Devices per batch after the canary. */
  batchSize: z.number().int().positive(),
  /** Health gate: how long to observe the canary (and each batch) after it reports active. */
  observeSeconds: z.number().int().nonnegative().max(86_400).default(30),
  /** Gate fails when more than this share of a batch fails. */
  maxFailurePercent: z.number().min(0).max(100).default(0),
  /** Gate fails when a device reports fewer frames per second than this. */
  minFps: z.number().nonnegative().optional(),
  /** Put every touched device back on its previous version when the gate fails. */
  autoRollback: z.boolean().default(true),
});

export const DeploymentStrategySchema = z.discriminatedUnion('type', [z.strictObject({ type: z.literal('all') }), CanaryStrategySchema]);
export type DeploymentStrategy = z.output<typeof DeploymentStrategySchema>;

export const CreateDeploymentRequestSchema = z.strictObject({
  /** `name@version` or `name@alias`; the alias is resolved once, when the deployment is created. */
  model: ModelReferenceSchema,
  target: DeploymentTargetSchema,
  strategy: DeploymentStrategySchema.default({ type: 'all' }),
});
export type CreateDeploymentRequest = z.input<typeof CreateDeploymentRequestSchema>;
export type ParsedCreateDeploymentRequest = z.output<typeof CreateDeploymentRequestSchema>;

export const DEPLOYMENT_STATUSES = ['pending', 'in_progress', 'completed', 'failed', 'rolling_back', 'rolled_back'] as const;
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];

export const DEVICE_ROLLOUT_PHASES = ['pending', 'sent', 'active', 'failed', 'rolled_back'] as const;
export type DeviceRolloutPhase = (typeof DEVICE_ROLLOUT_PHASES)[number];

export const DeviceRolloutSchema = z.object({
  deviceId: DeviceIdSchema,
  /** 0 is the canary batch (or the only batch of `all`). */
  batch: z.number().int().nonnegative(),
  phase: z.enum(DEVICE_ROLLOUT_PHASES),
  previous: ModelVersionRefSchema.nullable(),
  state: z.enum(DEVICE_STATES).nullable(),
  failure: z.object({ code: z.enum(DEPLOY_FAILURE_CODES), message: z.string() }).nullable(),
  updatedAt: IsoTimestampSchema,
});
export type DeviceRollout = z.infer<typeof DeviceRolloutSchema>;

export const DeploymentResponseSchema = z.object({
  id: RecordIdSchema,
  model: ModelVersionRefSchema,
  target: DeploymentTargetSchema,
  strategy: DeploymentStrategySchema,
  status: z.enum(DEPLOYMENT_STATUSES),
  /** Why it failed or was rolled back. */
  reason: z.string().nullable(),
  devices: z.array(DeviceRolloutSchema),
  createdAt: IsoTimestampSchema,
  updatedAt: IsoTimestampSchema,
});
export type DeploymentResponse = z.infer<typeof DeploymentResponseSchema>;

/** `GET /api/v1/deployments`: recent deployments, newest first. */
export const DeploymentListResponseSchema = z.object({ deployments: z.array(DeploymentResponseSchema) });

/** `POST /api/v1/deployments/{id}/rollback`. */
export const RollbackDeploymentRequestSchema = z.strictObject({ reason: z.string().min(1).max(1000).optional() });
