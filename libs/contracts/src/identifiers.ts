import { z } from 'zod';

/**
 * Names that appear in topics, URLs, S3 keys and SQL. Each rule is a regex (exported, so the
 * broker ACL, the CLI and the routes test the same thing) and a zod schema.
 */

/** Device ids go into MQTT topics and client ids: no `+`, `#`, `/`, `$`, whitespace; 1–64 chars. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
export const DEVICE_ID_MAX_LENGTH = 64;

/** Model names: lowercase letters, digits, `-`, `_`, `.`; 1–64 chars; starts with a letter or digit. */
export const MODEL_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Aliases (`production`, `candidate`, …) start with a letter, so `name@7` can never mean an alias. */
export const ALIAS_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;

/** Device groups follow the model-name rule. */
export const GROUP_PATTERN = MODEL_NAME_PATTERN;

/** Device label keys and values, as used by deployment selectors (`site=lab,floor=2`). */
export const LABEL_KEY_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const LABEL_VALUE_PATTERN = /^[A-Za-z0-9._-]{0,63}$/;

/** Lowercase hex sha256, the address of every blob. */
export const SHA256_PATTERN = /^[0-9a-f]{64}$/;

/** Ids minted by one side and echoed by the other (deployments, hard examples, deliveries, runs). */
export const RECORD_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Identity labels a head can output: 1–128 printable characters. */
export const IDENTITY_LABEL_PATTERN = /^[^\u0000-\u001f\u007f]{1,128}$/;

export const DeviceIdSchema = z
  .string()
  .regex(DEVICE_ID_PATTERN, 'a device id is 1-64 of A-Z a-z 0-9 _ - and starts with a letter or digit');
export const ModelNameSchema = z
  .string()
  .regex(MODEL_NAME_PATTERN, 'a model name is 1-64 of a-z 0-9 . _ - and starts with a letter or digit');
export const AliasSchema = z
  .string()
  .regex(ALIAS_PATTERN, 'an alias is 1-32 of a-z 0-9 _ - and starts with a letter');
export const GroupSchema = z
  .string()
  .regex(GROUP_PATTERN, 'a group is 1-64 of a-z 0-9 . _ - and starts with a letter or digit');
export const Sha256Schema = z.string().regex(SHA256_PATTERN, 'a sha256 is 64 lowercase hex characters');
export const RecordIdSchema = z
  .string()
  .regex(RECORD_ID_PATTERN, 'an id is 1-64 of A-Z a-z 0-9 _ - and starts with a letter or digit');
export const IdentityLabelSchema = z
  .string()
  .regex(IDENTITY_LABEL_PATTERN, 'an identity label is 1-128 characters without control characters');
export const ModelVersionNumberSchema = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/** Device labels: a small map of key → value, used for targeting. */
export const DeviceLabelsSchema = z
  .record(
    z.string().regex(LABEL_KEY_PATTERN, 'a label key is 1-63 of a-z 0-9 . _ - and starts with a letter or digit'),
    z.string().regex(LABEL_VALUE_PATTERN, 'a label value is 0-63 of A-Z a-z 0-9 . _ -'),
  )
  .refine((labels) => Object.keys(labels).length <= 32, 'at most 32 labels');

/**
 * Timestamps. Machine-to-machine messages (MQTT payloads, job payloads) carry epoch
 * milliseconds; documents people read (manifests, REST bodies, webhook bodies) carry ISO 8601 UTC
 * strings ending in `Z`.
 */
export const EpochMsSchema = z.number().int().nonnegative().max(8.64e15);
export const IsoTimestampSchema = z.iso.datetime({ error: 'an ISO 8601 UTC timestamp like 2026-01-31T12:00:00.000Z' });

/** A concrete model version: what a device runs, what a prediction was made with. */
export const ModelVersionRefSchema = z.object({ name: ModelNameSchema, version: ModelVersionNumberSchema });
export type ModelVersionRef = z.infer<typeof ModelVersionRefSchema>;

export function isValidDeviceId(id: unknown): id is string {
  return typeof id === 'string' && DEVICE_ID_PATTERN.test(id);
}

/**
 * Device ids double as MQTT client ids and usernames, and a broker hands a client id to whoever logs in
 * with it last. Ids starting with `edgeloop` (any case) belong to the cloud's own clients
 * (`edgeloop-cloud-…`, `edgeloop-dynsec-…`, the `edgeloop-admin` broker account), so no device may have one.
 */
export const RESERVED_DEVICE_ID_PATTERN = /^edgeloop/i;

/** Is this id kept for the cloud's own MQTT clients (the prefix above, or one of `alsoReserved`)? */
export function isReservedDeviceId(id: string, alsoReserved: readonly string[] = []): boolean {
  return RESERVED_DEVICE_ID_PATTERN.test(id) || alsoReserved.includes(id);
}

export function isValidModelName(name: unknown): name is string {
  return typeof name === 'string' && MODEL_NAME_PATTERN.test(name);
}

/** `face-id@7` or `face-id@production`: what a user types to name a model version. */
export type ModelReference =
  | { kind: 'version'; name: string; version: number }
  | { kind: 'alias'; name: string; alias: string };

const VERSION_TEXT = /^[1-9][0-9]{0,14}$/;

/** Parse `name@version` or `name@alias`; null when the text is neither. */
export function parseModelRef(text: string): ModelReference | null {
  const at = text.lastIndexOf('@');
  if (at <= 0) return null;
  const name = text.slice(0, at);
  const ref = text.slice(at + 1);
  if (!MODEL_NAME_PATTERN.test(name)) return null;
  if (VERSION_TEXT.test(ref)) {
    const version = Number(ref);
    return Number.isSafeInteger(version) ? { kind: 'version', name, version } : null;
  }
  if (ALIAS_PATTERN.test(ref)) return { kind: 'alias', name, alias: ref };
  return null;
}

export function formatModelRef(ref: ModelReference | ModelVersionRef): string {
  if ('kind' in ref) return ref.kind === 'version' ? `${ref.name}@${ref.version}` : `${ref.name}@${ref.alias}`;
  return `${ref.name}@${ref.version}`;
}

/** A `name@version|alias` string in a DTO; parses to a ModelReference. */
export const ModelReferenceSchema = z.string().transform((text, ctx): ModelReference => {
  const ref = parseModelRef(text);
  if (ref) return ref;
  ctx.addIssue({
    code: 'custom',
    message: `"${text.slice(0, 80)}" is not a model reference: expected name@version (face-id@7) or name@alias (face-id@production)`,
  });
  return z.NEVER;
});

/** `site=lab,floor=2` → `{ site: 'lab', floor: '2' }`; null when a pair is malformed. */
export function parseLabelSelector(text: string): Record<string, string> | null {
  const selector: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) return null;
    const key = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (!LABEL_KEY_PATTERN.test(key) || !LABEL_VALUE_PATTERN.test(value) || key in selector) return null;
    selector[key] = value;
  }
  return selector;
}
