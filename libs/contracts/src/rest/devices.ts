import { z } from 'zod';
import { DeviceIdSchema, DeviceLabelsSchema, GroupSchema, IsoTimestampSchema } from '../identifiers';
import { ReportedStateSchema } from '../reported-state';
import { SIGNATURE_ALGORITHM } from '../manifest';
import { DeviceQuotaStatusSchema } from './quotas';

/** Device DTOs: `POST /api/v1/devices`, `GET /api/v1/devices[/{id}]`. */

export const DEVICE_NAME_PATTERN = /^[^\u0000-\u001f\u007f]{1,128}$/;

export const ProvisionDeviceRequestSchema = z.strictObject({
  /** The id to give the device (its MQTT username and client id); the cloud picks one when absent. */
  id: DeviceIdSchema.optional(),
  name: z.string().regex(DEVICE_NAME_PATTERN, 'a device name is 1-128 characters without control characters'),
  group: GroupSchema.optional(),
  labels: DeviceLabelsSchema.optional(),
});
export type ProvisionDeviceRequest = z.infer<typeof ProvisionDeviceRequestSchema>;

export const DEVICE_PRESENCE = ['online', 'offline', 'unknown'] as const;

export const DeviceSummarySchema = z.object({
  id: DeviceIdSchema,
  name: z.string(),
  group: GroupSchema.nullable(),
  labels: DeviceLabelsSchema,
  disabled: z.boolean(),
  /** From the retained status topic; `unknown` until the device first connects. */
  presence: z.enum(DEVICE_PRESENCE),
  lastSeenAt: IsoTimestampSchema.nullable(),
  /** The last reported state as the device sent it. */
  reported: ReportedStateSchema.nullable(),
  createdAt: IsoTimestampSchema,
  /** Quota state (`GET /devices/{id}` only): whether the cloud is dropping its messages, and its quarantine. */
  quota: DeviceQuotaStatusSchema.optional(),
});
export type DeviceSummary = z.infer<typeof DeviceSummarySchema>;

/** `GET /api/v1/devices[?group=…]`. */
export const DeviceListResponseSchema = z.object({ devices: z.array(DeviceSummarySchema) });
export type DeviceListResponse = z.infer<typeof DeviceListResponseSchema>;

/** `POST /api/v1/devices/{id}/disabled`: answered with the device. */
export const SetDeviceDisabledRequestSchema = z.strictObject({ disabled: z.boolean() });
export type SetDeviceDisabledRequest = z.infer<typeof SetDeviceDisabledRequestSchema>;

/**
 * Returned once, at provisioning; secrets are stored hashed. MQTT username and client id are the
 * device id; `http.token` is the bearer token for blob downloads.
 */
export const ProvisionDeviceResponseSchema = z.object({
  device: DeviceSummarySchema,
  credentials: z.object({
    mqtt: z.object({ username: DeviceIdSchema, clientId: DeviceIdSchema, password: z.string().min(16) }),
    http: z.object({ token: z.string().min(16) }),
  }),
  /** The key the device verifies desired states and manifests with. */
  signingKey: z.object({ keyId: z.string().min(1).max(128), alg: z.literal(SIGNATURE_ALGORITHM), publicKey: z.string() }),
  /** The broker URL the device connects to. */
  mqttUrl: z.string().min(1),
});
export type ProvisionDeviceResponse = z.infer<typeof ProvisionDeviceResponseSchema>;
