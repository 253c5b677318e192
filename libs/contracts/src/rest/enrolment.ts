import { z } from 'zod';
import { DeviceIdSchema, DeviceLabelsSchema, GroupSchema, IsoTimestampSchema } from '../identifiers';
import { API_PREFIX } from '../protocol';
import { DEVICE_NAME_PATTERN, ProvisionDeviceResponseSchema } from './devices';

/**
 * Zero-touch device enrolment (the pattern of AWS IoT fleet provisioning's claim and Azure DPS's group
 * enrolment): an operator creates a token for a group; a new device that knows only the cloud URL and
 * that token calls `POST /api/v1/devices/enrol` once and receives its own id and credentials. The token
 * is shown once and stored hashed; revoking it stops new enrolments, not the devices it enrolled.
 */

/** Every enrolment token starts with this, so it is recognisable in a leak scan (API tokens use `elt_`). */
export const ENROLMENT_TOKEN_PREFIX = 'ele_';

/** Longest lifetime of an enrolment token: one year. */
export const MAX_ENROLMENT_TOKEN_TTL_SECONDS = 365 * 24 * 3600;

export const CreateEnrolmentTokenRequestSchema = z.strictObject({
  /** Every device enrolled with the token joins this group. */
  group: GroupSchema,
  /** Stamped on every device enrolled with the token. */
  labels: DeviceLabelsSchema.optional(),
  /** How many devices may enrol with it (default 1). */
  maxUses: z.number().int().min(1).max(100_000).optional(),
  /** Lifetime from now, 60 s to one year (default one day). */
  expiresInSeconds: z.number().int().min(60).max(MAX_ENROLMENT_TOKEN_TTL_SECONDS).optional(),
  /** What the token is for (a batch of devices, a site). */
  description: z.string().regex(DEVICE_NAME_PATTERN, 'a description is 1-128 characters without control characters').optional(),
});
export type CreateEnrolmentTokenRequest = z.infer<typeof CreateEnrolmentTokenRequestSchema>;

export const ENROLMENT_TOKEN_STATES = ['active', 'expired', 'used_up', 'revoked'] as const;
export type EnrolmentTokenState = (typeof ENROLMENT_TOKEN_STATES)[number];

export const EnrolmentTokenSummarySchema = z.object({
  id: z.string(),
  group: GroupSchema,
  labels: DeviceLabelsSchema,
  description: z.string().nullable(),
  maxUses: z.number().int(),
  uses: z.number().int(),
  state: z.enum(ENROLMENT_TOKEN_STATES),
  expiresAt: IsoTimestampSchema,
  createdAt: IsoTimestampSchema,
  revokedAt: IsoTimestampSchema.nullable(),
  /** Ids of the devices enrolled with it, oldest first. */
  devices: z.array(DeviceIdSchema),
});
export type EnrolmentTokenSummary = z.infer<typeof EnrolmentTokenSummarySchema>;

/** `GET /api/v1/enrolment-tokens`. */
export const EnrolmentTokenListResponseSchema = z.object({ tokens: z.array(EnrolmentTokenSummarySchema) });

/** The answer of `POST /enrolment-tokens`: the only time the token itself is shown. */
export const CreateEnrolmentTokenResponseSchema = EnrolmentTokenSummarySchema.extend({ token: z.string().startsWith(ENROLMENT_TOKEN_PREFIX) });
export type CreateEnrolmentTokenResponse = z.infer<typeof CreateEnrolmentTokenResponseSchema>;

/** An enrolment nonce: chosen at random by the device for each enrolment; a second request with it is a replay. */
export const ENROLMENT_NONCE_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;

export const EnrolDeviceRequestSchema = z.strictObject({
  token: z.string().min(8).max(512),
  /** The id the device asks for (a serial number, the machine id); the cloud picks one when absent. */
  deviceId: DeviceIdSchema.optional(),
  name: z.string().regex(DEVICE_NAME_PATTERN, 'a device name is 1-128 characters without control characters').optional(),
  nonce: z.string().regex(ENROLMENT_NONCE_PATTERN, 'a nonce is 16-128 of A-Z a-z 0-9 _ -'),
});
export type EnrolDeviceRequest = z.infer<typeof EnrolDeviceRequestSchema>;

/** Provisioning's answer: the device, its credentials, the signing key and the broker URL. */
export const EnrolDeviceResponseSchema = ProvisionDeviceResponseSchema;
export type EnrolDeviceResponse = z.infer<typeof EnrolDeviceResponseSchema>;

export const enrolmentPaths = {
  tokens: () => `${API_PREFIX}/enrolment-tokens`,
  token: (id: string) => `${API_PREFIX}/enrolment-tokens/${encodeURIComponent(id)}`,
  revoke: (id: string) => `${API_PREFIX}/enrolment-tokens/${encodeURIComponent(id)}/revoke`,
  enrol: () => `${API_PREFIX}/devices/enrol`,
};
