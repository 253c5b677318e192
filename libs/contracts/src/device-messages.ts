import { z } from 'zod';
import { decodeJson, parseWith, type ParseResult } from './parse';
import { parseTopic, type DeviceTopicKind } from './topics';
import { DesiredStateSchema } from './desired-state';
import { DeviceStatusSchema, ReportedStateSchema } from './reported-state';
import { HardExampleSchema, OutboxEpochSchema, PredictionBatchSchema } from './predictions';
import { decodePredictionBatch, looseColumnsFields, predictionBatchEncoding } from './prediction-encoding';
import { DeviceIdSchema, EpochMsSchema, RecordIdSchema } from './identifiers';
import { MESSAGE_VERSION } from './protocol';

/**
 * Reading device messages. Payloads are plain JSON as mqtt.js publishes them (no Nest
 * `{ pattern, data, id }` envelope): the cloud reads them from mqtt.js `message` events and calls
 * `decodeDeviceMessage(topic, payload)`; the edge calls `parseDeviceMessage('desired', payload)`.
 * Neither throws: a failure is a result to count and dead-letter.
 */

/** Most entries in one acknowledgement message; the cloud starts another message beyond it. */
export const MAX_ACKS_PER_MESSAGE = 256;

/** A prediction batch the cloud stored (or had stored already): the outbox's epoch (absent for edges without one) and seq. */
export const AckedBatchSchema = z.object({
  kind: z.literal('predictions'),
  epoch: OutboxEpochSchema.optional(),
  seq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
});
/** A hard example the cloud stored (or had stored already), by the id the device gave it. */
export const AckedHardExampleSchema = z.object({ kind: z.literal('hard-examples'), id: RecordIdSchema });
export const AckedItemSchema = z.discriminatedUnion('kind', [AckedBatchSchema, AckedHardExampleSchema]);
export type AckedItem = z.infer<typeof AckedItemSchema>;

/**
 * Cloud → edge, `…/{id}/acks`, QoS 1, not retained: the batches and hard examples the cloud has durably
 * accepted (a job in Redis, or dead-lettered in SQL), and duplicates of ones it had accepted before. The
 * edge's outbox keeps a row until it is named here; the broker's PUBACK alone does not delete it (a broker
 * may acknowledge and then drop a message nobody is subscribed to). Several acks travel in one message.
 */
export const DeviceAckSchema = z.object({
  v: z.literal(MESSAGE_VERSION),
  deviceId: DeviceIdSchema,
  ts: EpochMsSchema,
  acks: z.array(AckedItemSchema).min(1).max(MAX_ACKS_PER_MESSAGE),
});
export type DeviceAck = z.infer<typeof DeviceAckSchema>;

/**
 * What an ack names for a device message the cloud has taken: a batch by (epoch, seq), a hard example by id;
 * null for the kinds that are not acknowledged (state topics). `looseAckedItem` does the same for a payload
 * that failed validation and was dead-lettered, when its JSON (or a `columns` batch's MessagePack map) still names
 * them (else null: not acknowledged).
 */
export function ackedItemOf(message: DecodedDeviceMessage): AckedItem | null {
  if (message.kind === 'predictions') {
    const { epoch, seq } = message.message;
    return epoch === undefined ? { kind: 'predictions', seq } : { kind: 'predictions', epoch, seq };
  }
  if (message.kind === 'hard-examples') return { kind: 'hard-examples', id: message.message.id };
  return null;
}

export function looseAckedItem(topic: string, payload: Uint8Array | string): { deviceId: string; item: AckedItem } | null {
  const parsedTopic = parseTopic(topic);
  if (parsedTopic === null || (parsedTopic.kind !== 'predictions' && parsedTopic.kind !== 'hard-examples')) return null;
  const fields = looseFields(parsedTopic.kind, payload);
  if (fields === null) return null;
  const item = AckedItemSchema.safeParse(
    parsedTopic.kind === 'predictions' ? { kind: 'predictions', epoch: fields.epoch, seq: fields.seq } : { kind: 'hard-examples', id: fields.id },
  );
  return item.success ? { deviceId: parsedTopic.deviceId, item: item.data } : null;
}

/** A payload's top-level fields, unvalidated: a batch in the `columns` encoding read as MessagePack, anything else as JSON. */
function looseFields(kind: 'predictions' | 'hard-examples', payload: Uint8Array | string): Record<string, unknown> | null {
  if (kind === 'predictions' && typeof payload !== 'string' && predictionBatchEncoding(payload) === 'columns') return looseColumnsFields(payload, PAYLOAD_LIMITS.predictions);
  const json = decodeJson(payload, PAYLOAD_LIMITS[kind]);
  return json.ok && typeof json.value === 'object' && json.value !== null ? (json.value as Record<string, unknown>) : null;
}

export const DEVICE_MESSAGE_SCHEMAS = {
  desired: DesiredStateSchema,
  reported: ReportedStateSchema,
  status: DeviceStatusSchema,
  predictions: PredictionBatchSchema,
  'hard-examples': HardExampleSchema,
  acks: DeviceAckSchema,
} as const satisfies Record<DeviceTopicKind, z.ZodType>;

export type DeviceMessage<K extends DeviceTopicKind> = z.output<(typeof DEVICE_MESSAGE_SCHEMAS)[K]>;

const KiB = 1024;

/** Largest payload on any edgeloop topic; configure the broker's maximum packet size at least this high. */
export const MAX_PAYLOAD_BYTES = 1024 * KiB;

/** Byte limit per topic kind, checked on the raw payload before parsing. */
export const PAYLOAD_LIMITS: Readonly<Record<DeviceTopicKind, number>> = {
  desired: MAX_PAYLOAD_BYTES,
  reported: 16 * KiB,
  status: 1 * KiB,
  predictions: 512 * KiB,
  'hard-examples': 128 * KiB,
  acks: 32 * KiB,
};

/**
 * `empty` is a zero-length payload: on a retained topic it means the retained message was cleared
 * (no desired state, device removed), which a reader handles rather than dead-letters.
 */
export type DeviceMessageErrorCode = 'empty' | 'too_large' | 'invalid_json' | 'invalid_payload';

/** A predictions payload may also be a columns payload that cannot be read (prediction-encoding.ts). */
export type DeviceMessageErrorCodeOf<K extends DeviceTopicKind> = K extends 'predictions' ? DeviceMessageErrorCode | 'invalid_encoding' : DeviceMessageErrorCode;

export function parseDeviceMessage<K extends DeviceTopicKind>(
  kind: K,
  payload: Uint8Array | string,
): ParseResult<DeviceMessage<K>, DeviceMessageErrorCodeOf<K>> {
  if (kind === 'predictions') {
    // JSON or the binary columns encoding, checked by the fast validator first (prediction-encoding.ts)
    const batch = decodePredictionBatch(payload, PAYLOAD_LIMITS.predictions);
    if (batch.ok) return batch as ParseResult<DeviceMessage<K>, DeviceMessageErrorCodeOf<K>>;
    return { ok: false, error: { ...batch.error, code: batch.error.code as DeviceMessageErrorCodeOf<K>, message: `invalid ${kind} message: ${batch.error.message}` } };
  }
  const json = decodeJson(payload, PAYLOAD_LIMITS[kind]);
  if (!json.ok) return json;
  const schema = DEVICE_MESSAGE_SCHEMAS[kind] as unknown as z.ZodType<DeviceMessage<K>>;
  const parsed = parseWith(schema, json.value);
  if (parsed.ok) return parsed;
  return { ok: false, error: { ...parsed.error, message: `invalid ${kind} message: ${parsed.error.message}` } };
}

export type DecodedDeviceMessage = {
  /** `payload`: the bytes as they came (a prediction batch's job carries them on, and its raw store keeps them). */
  [K in DeviceTopicKind]: { kind: K; deviceId: string; message: DeviceMessage<K>; payload?: Uint8Array | string };
}[DeviceTopicKind];

export type DecodeErrorCode = DeviceMessageErrorCode | 'invalid_encoding' | 'unknown_topic' | 'device_mismatch';

/**
 * Topic + payload → a typed message for the device named in the topic. A payload whose own
 * `deviceId` differs from the topic's is `device_mismatch`: the topic (enforced by the broker ACL)
 * is the identity, the payload only repeats it.
 */
export function decodeDeviceMessage(topic: string, payload: Uint8Array | string): ParseResult<DecodedDeviceMessage, DecodeErrorCode> {
  const parsedTopic = parseTopic(topic);
  if (parsedTopic === null) {
    return { ok: false, error: { code: 'unknown_topic', message: `"${topic.slice(0, 200)}" is not an edgeloop device topic`, details: [] } };
  }
  const { deviceId, kind } = parsedTopic;
  const parsed = parseDeviceMessage(kind, payload);
  if (!parsed.ok) return parsed;
  const message = parsed.value as DeviceMessage<DeviceTopicKind>;
  if ('deviceId' in message && message.deviceId !== deviceId) {
    return {
      ok: false,
      error: {
        code: 'device_mismatch',
        message: `${kind} message names device "${message.deviceId}" but arrived on the topic of "${deviceId}"`,
        details: [{ path: 'deviceId', message: 'differs from the topic', code: 'device_mismatch' }],
      },
    };
  }
  return { ok: true, value: { kind, deviceId, message, payload } as DecodedDeviceMessage };
}
