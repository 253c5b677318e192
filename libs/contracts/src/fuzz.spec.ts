import fc from 'fast-check';
import { DEVICE_MESSAGE_SCHEMAS, decodeDeviceMessage, PAYLOAD_LIMITS, parseDeviceMessage, type DecodeErrorCode } from './device-messages';
import { JOB_NAMES, parseJob } from './jobs';
import { statusMessage } from './reported-state';
import { signDesiredState } from './signing';
import { batchExample, hardExampleExample, keyPair, reportedExample, unsignedDesiredExample } from './testing/examples';
import { DEVICE_TOPIC_KINDS, deviceTopic, parseTopic, type DeviceTopicKind } from './topics';

/**
 * Hostile input for every MQTT payload decoder and the job parser: whatever arrives — random bytes, random
 * JSON, a valid message with any field replaced by anything or removed, prototype keys, deep nesting, sizes
 * around the limits, any topic string — the decoder returns a typed result and never throws. Runs per
 * property: EDGELOOP_FUZZ_RUNS (default 200); the long form (`bench/fuzz/run.ts`) raises it under a time bound
 * (EDGELOOP_FUZZ_SECONDS per property).
 */
const RUNS = Number(process.env.EDGELOOP_FUZZ_RUNS ?? 200);
const SECONDS = Number(process.env.EDGELOOP_FUZZ_SECONDS ?? 0);
const params: fc.Parameters<unknown> = { numRuns: RUNS, ...(SECONDS > 0 ? { interruptAfterTimeLimit: SECONDS * 1000, markInterruptAsFailure: false } : {}) };
const TIMEOUT = Math.max(60_000, SECONDS * 1000 * 8 + 30_000);

const DECODE_CODES: readonly DecodeErrorCode[] = [
  'empty',
  'too_large',
  'invalid_json',
  'invalid_encoding',
  'invalid_payload',
  'unknown_topic',
  'device_mismatch',
];
const DEVICE = 'cam-01';

const keys = keyPair();
const VALID: Record<DeviceTopicKind, unknown> = {
  desired: signDesiredState(unsignedDesiredExample(keys), keys.privateKey, keys.keyId),
  reported: reportedExample(),
  status: statusMessage('online', 1_769_860_805_000, '1.0.0'),
  predictions: { ...batchExample(), epoch: 'AbCdEfGh12345678' },
  'hard-examples': hardExampleExample(),
  acks: {
    v: 1,
    deviceId: DEVICE,
    ts: 1_769_860_805_000,
    acks: [
      { kind: 'predictions', epoch: 'AbCdEfGh12345678', seq: 3 },
      { kind: 'hard-examples', id: 'hx-1' },
    ],
  },
};

/** Every path to a value inside `value` (objects and arrays), the root excluded. */
function paths(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (value === null || typeof value !== 'object') return [];
  const entries: Array<[string | number, unknown]> = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  return entries.flatMap(([key, child]) => [[...prefix, key], ...paths(child, [...prefix, key])]);
}

/** A deep copy of `value` with the value at `path` replaced (or deleted when `replacement` is the `DELETE` marker). */
const DELETE = Symbol('delete');
function mutate(value: unknown, path: Array<string | number>, replacement: unknown): unknown {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (replacement === DELETE) {
    if (Array.isArray(node)) node.splice(last as number, 1);
    else delete node[last];
  } else node[last] = replacement;
  return copy;
}

/** Anything a hostile sender can put in JSON, plus the values JSON.stringify turns into something else. */
const hostileValue = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom(null, '', -0, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 2 ** 53, -1, 0.5, '__proto__', 'constructor', '\u0000', '\ud800'),
  fc.string({ maxLength: 300, unit: 'binary' }),
  fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'v', 'deviceId'), fc.jsonValue(), { maxKeys: 4 }),
);

/** The decoder's contract: a result, never an exception; a failure has a known code, a message and details. */
function checkDecoded(topic: string, payload: Uint8Array | string): void {
  const result = decodeDeviceMessage(topic, payload);
  if (result.ok) {
    const parsed = parseTopic(topic)!;
    expect(result.value.kind).toBe(parsed.kind);
    expect(result.value.deviceId).toBe(parsed.deviceId);
    expect(DEVICE_MESSAGE_SCHEMAS[parsed.kind].safeParse(result.value.message).success).toBe(true);
    return;
  }
  expect(DECODE_CODES).toContain(result.error.code);
  expect(typeof result.error.message).toBe('string');
  expect(result.error.message.length).toBeLessThan(20_000);
  expect(Array.isArray(result.error.details)).toBe(true);
}

describe.each(DEVICE_TOPIC_KINDS.map((kind) => [kind]))('decoding hostile %s payloads', (kind) => {
  const topic = deviceTopic(DEVICE, kind);

  it('starts from a valid message (so mutations are near misses)', () => {
    expect(decodeDeviceMessage(topic, JSON.stringify(VALID[kind]))).toMatchObject({ ok: true });
  });

  it(
    'never throws on random bytes',
    () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => checkDecoded(topic, bytes)),
        params,
      );
    },
    TIMEOUT,
  );

  it(
    'never throws on random JSON',
    () => {
      fc.assert(
        fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => checkDecoded(topic, JSON.stringify(value) ?? 'null')),
        params,
      );
    },
    TIMEOUT,
  );

  it(
    'never throws when any field of a valid message is replaced by anything, or removed',
    () => {
      const all = paths(VALID[kind]);
      fc.assert(
        fc.property(fc.constantFrom(...all), fc.oneof(hostileValue, fc.constant(DELETE)), (path, replacement) => {
          const text = JSON.stringify(mutate(VALID[kind], path, replacement));
          checkDecoded(topic, text);
          checkDecoded(topic, Buffer.from(text));
        }),
        params,
      );
    },
    TIMEOUT,
  );

  it(
    'never throws on truncated and bit-flipped valid payloads',
    () => {
      const valid = Buffer.from(JSON.stringify(VALID[kind]));
      fc.assert(
        fc.property(fc.nat(valid.length), fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), (cut, flips) => {
          const bytes = Buffer.from(valid.subarray(0, cut));
          for (const [at, byte] of flips) if (at < bytes.length) bytes[at] = byte;
          checkDecoded(topic, bytes);
        }),
        params,
      );
    },
    TIMEOUT,
  );

  it('refuses a payload over its byte limit before parsing, and takes deep nesting without a stack overflow', () => {
    const limit = PAYLOAD_LIMITS[kind];
    const over = `{"pad":"${'x'.repeat(limit)}"}`;
    expect(parseDeviceMessage(kind, over)).toMatchObject({ ok: false, error: { code: 'too_large' } });
    const depth = Math.floor((limit - 64) / 2);
    for (const nested of [
      `${'['.repeat(depth)}${']'.repeat(depth)}`,
      `{"v":1,"deviceId":"${DEVICE}","x":${'{"a":'.repeat(depth / 6)}1${'}'.repeat(depth / 6)}}`,
    ]) {
      const result = decodeDeviceMessage(topic, nested);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(DECODE_CODES).toContain(result.error.code);
    }
  });
});

describe('hostile topics and jobs', () => {
  it(
    'decodes any topic string to a result, never an exception',
    () => {
      const segment = fc.oneof(
        fc.constantFrom('edgeloop', 'v1', 'devices', 'cam-01', '+', '#', '', '$SYS', ...DEVICE_TOPIC_KINDS),
        fc.string({ maxLength: 20 }),
      );
      fc.assert(
        fc.property(
          fc.oneof(
            fc.string({ maxLength: 200 }),
            fc.array(segment, { maxLength: 7 }).map((parts) => parts.join('/')),
          ),
          (topic) => {
            checkDecoded(topic, JSON.stringify(VALID.status));
            if (parseTopic(topic) === null) expect(decodeDeviceMessage(topic, '{}')).toMatchObject({ ok: false, error: { code: 'unknown_topic' } });
          },
        ),
        params,
      );
    },
    TIMEOUT,
  );

  it(
    'parses any job name and payload to a result, never an exception',
    () => {
      const job = { deviceId: DEVICE, seq: 42, receivedAt: 1, batch: VALID.predictions };
      fc.assert(
        fc.property(
          fc.oneof(fc.constantFrom(...JOB_NAMES), fc.string({ maxLength: 40 })),
          fc.oneof(fc.jsonValue({ maxDepth: 5 }), fc.constant(job)),
          (name, data) => {
            const result = parseJob(name, data);
            if (!result.ok) expect(['unknown_job', 'invalid_payload']).toContain(result.error.code);
          },
        ),
        params,
      );
    },
    TIMEOUT,
  );
});
