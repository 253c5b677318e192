import {
  ackedItemOf,
  decodeDeviceMessage,
  DeviceAckSchema,
  looseAckedItem,
  MAX_ACKS_PER_MESSAGE,
  MAX_PAYLOAD_BYTES,
  PAYLOAD_LIMITS,
  parseDeviceMessage,
} from './device-messages';
import { DesiredStateSchema } from './desired-state';
import { DeviceStatusSchema, ReportedStateSchema, statusMessage } from './reported-state';
import { HardExampleSchema, MAX_BATCH_ITEMS, MAX_CROP_BASE64_CHARS, MAX_FACES_PER_FRAME, PredictionBatchSchema } from './predictions';
import { signDesiredState } from './signing';
import { topics } from './topics';
import { batchExample, embeddingExample, hardExampleExample, keyPair, reportedExample, unsignedDesiredExample } from './testing/examples';
import { expectInvalid, expectValid } from './testing/expect-invalid';

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

describe('desired state', () => {
  const keys = keyPair();
  const desired = () => signDesiredState(unsignedDesiredExample(keys), keys.privateKey, keys.keyId);

  it('accepts a signed desired state with cloud paths and presigned URLs', () => {
    expectValid(DesiredStateSchema, desired());
    const withUrl = desired();
    withUrl.blobs[0]!.url = 'https://minio.local:9000/edgeloop/blobs/sha256/abc?X-Amz-Signature=1';
    expectValid(DesiredStateSchema, withUrl);
  });

  it('names the bad field', () => {
    expectInvalid(DesiredStateSchema, { ...desired(), v: 2 }, 'v');
    expectInvalid(DesiredStateSchema, { ...desired(), deviceId: 'cam/01' }, 'deviceId');
    expectInvalid(DesiredStateSchema, { ...desired(), rollback: 'yes' }, 'rollback');
    expectInvalid(DesiredStateSchema, { ...desired(), issuedAt: '2026-01-31' }, 'issuedAt');
    expectInvalid(DesiredStateSchema, { ...desired(), signature: undefined }, 'signature');
    const badUrl = desired();
    badUrl.blobs[1]!.url = 'ftp://host/file';
    expectInvalid(DesiredStateSchema, badUrl, 'blobs[1].url');
  });

  it('refuses a model that is not the manifest\'s and a manifest file without a location', () => {
    expect(expectInvalid(DesiredStateSchema, { ...desired(), model: { name: 'face-id', version: 8 } }, 'model')).toContain('differs');
    const missing = desired();
    missing.blobs.pop();
    expect(expectInvalid(DesiredStateSchema, missing, 'blobs')).toContain('no location for files[2] (head');
  });
});

describe('reported state and presence', () => {
  it('accepts active and failed reports', () => {
    expectValid(ReportedStateSchema, reportedExample());
    expectValid(ReportedStateSchema, {
      ...reportedExample(),
      state: 'failed',
      failure: { code: 'checksum_mismatch', message: 'head blob sha256 differs' },
      target: { name: 'face-id', version: 8 },
    });
  });

  it('names the bad field', () => {
    expectInvalid(ReportedStateSchema, { ...reportedExample(), state: 'running' }, 'state');
    expectInvalid(ReportedStateSchema, { ...reportedExample(), health: { ...reportedExample().health, fps: -1 } }, 'health.fps');
    expectInvalid(ReportedStateSchema, { ...reportedExample(), running: { name: 'face-id', version: 1.5 } }, 'running.version');
    expectInvalid(ReportedStateSchema, { ...reportedExample(), state: 'failed' }, 'failure');
    expectInvalid(ReportedStateSchema, { ...reportedExample(), running: null }, 'running');
  });

  it('validates the online message and the last will', () => {
    expectValid(DeviceStatusSchema, statusMessage('online', 1_769_860_800_000, '0.1.0'));
    const will = parseDeviceMessage('status', json(statusMessage('offline', 1_769_860_800_000)));
    expect(will).toEqual({ ok: true, value: { v: 1, status: 'offline', ts: 1_769_860_800_000 } });
    expectInvalid(DeviceStatusSchema, { v: 1, status: 'away', ts: 1 }, 'status');
  });
});

describe('prediction batches', () => {
  it('accepts a realistic batch', () => {
    expectValid(PredictionBatchSchema, batchExample());
  });

  it('accepts faces from a bundle with no head: no identity, no score, no margin', () => {
    const batch = batchExample();
    batch.items[0]!.faces[0] = { identity: null, score: null, margin: null, detScore: 0.97 };
    expectValid(PredictionBatchSchema, batch);
  });

  it('names the bad field deep inside an item', () => {
    const batch = batchExample();
    batch.items[1]!.faces[0]!.detScore = 1.2;
    expectInvalid(PredictionBatchSchema, batch, 'items[1].faces[0].detScore');
    const noTimings = batchExample() as unknown as { items: Record<string, unknown>[] };
    delete noTimings.items[0]!.timings;
    expectInvalid(PredictionBatchSchema, noTimings, 'items[0].timings');
    expectInvalid(PredictionBatchSchema, { ...batchExample(), seq: 0 }, 'seq');
    const dazzled = batchExample();
    dazzled.items[0]!.stats.brightness = 300;
    expectInvalid(PredictionBatchSchema, dazzled, 'items[0].stats.brightness');
    expectInvalid(PredictionBatchSchema, { ...batchExample(), model: { name: 'face-id' } }, 'model.version');
    expectInvalid(PredictionBatchSchema, { ...batchExample(), window: { start: 10, end: 5 } }, 'window.end');
    const outside = batchExample();
    outside.items[2]!.ts = outside.window.end + 1;
    expectInvalid(PredictionBatchSchema, outside, 'items[2].ts');
    const centroid = batchExample();
    centroid.embeddingCentroid!.mean = centroid.embeddingCentroid!.mean.slice(1);
    expectInvalid(PredictionBatchSchema, centroid, 'embeddingCentroid.mean');
  });

  it('bounds items per batch and faces per frame', () => {
    const batch = batchExample();
    const item = batch.items[2]!;
    expectValid(PredictionBatchSchema, { ...batch, items: Array.from({ length: MAX_BATCH_ITEMS }, () => item) });
    expectInvalid(PredictionBatchSchema, { ...batch, items: Array.from({ length: MAX_BATCH_ITEMS + 1 }, () => item) }, 'items');
    const face = batch.items[0]!.faces[0]!;
    const crowded = { ...batch, items: [{ ...item, faces: Array.from({ length: MAX_FACES_PER_FRAME + 1 }, () => face) }] };
    expectInvalid(PredictionBatchSchema, crowded, 'items[0].faces');
  });
});

describe('hard examples', () => {
  it('accepts one with and one without a crop', () => {
    expectValid(HardExampleSchema, hardExampleExample());
    const { crop: _crop, ...withoutCrop } = hardExampleExample();
    expectValid(HardExampleSchema, withoutCrop);
  });

  it('names the bad field', () => {
    expectInvalid(HardExampleSchema, { ...hardExampleExample(), reason: 'blurry' }, 'reason');
    expectInvalid(HardExampleSchema, { ...hardExampleExample(), embedding: embeddingExample().slice(0, 128) }, 'embedding');
    const nonFinite = hardExampleExample();
    (nonFinite.embedding as unknown[])[5] = null;
    expectInvalid(HardExampleSchema, nonFinite, 'embedding[5]');
    const png = hardExampleExample();
    png.crop!.data = Buffer.from('\x89PNG\r\n').toString('base64');
    expect(expectInvalid(HardExampleSchema, png, 'crop.data')).toContain('not a base64 JPEG');
    const huge = hardExampleExample();
    huge.crop!.data = `/9j/${'A'.repeat(MAX_CROP_BASE64_CHARS)}`;
    expectInvalid(HardExampleSchema, huge, 'crop.data');
  });
});

describe('parseDeviceMessage', () => {
  it('parses JSON bytes into a typed message', () => {
    const result = parseDeviceMessage('predictions', json(batchExample()));
    expect(result.ok && result.value.seq).toBe(42);
  });

  it('reports invalid JSON, invalid UTF-8, empty and oversized payloads with their codes', () => {
    expect(parseDeviceMessage('reported', Buffer.from('{"v":1,'))).toMatchObject({ ok: false, error: { code: 'invalid_json' } });
    expect(parseDeviceMessage('reported', Buffer.from([0x7b, 0xff, 0x7d]))).toMatchObject({ ok: false, error: { code: 'invalid_json' } });
    expect(parseDeviceMessage('desired', Buffer.alloc(0))).toMatchObject({ ok: false, error: { code: 'empty' } });
    const oversized = Buffer.alloc(PAYLOAD_LIMITS.status + 1, 0x20);
    const result = parseDeviceMessage('status', oversized);
    expect(result).toMatchObject({ ok: false, error: { code: 'too_large' } });
    expect(!result.ok && result.error.message).toContain(`limit of ${PAYLOAD_LIMITS.status}`);
  });

  it('refuses a batch over the byte limit before parsing it', () => {
    const batch = batchExample();
    const item = batch.items[0]!;
    const faces = Array.from({ length: MAX_FACES_PER_FRAME }, () => item.faces[0]!);
    const big = json({ ...batch, items: Array.from({ length: MAX_BATCH_ITEMS }, () => ({ ...item, faces })) });
    expect(big.byteLength).toBeGreaterThan(PAYLOAD_LIMITS.predictions);
    expect(parseDeviceMessage('predictions', big)).toMatchObject({ ok: false, error: { code: 'too_large' } });
    expect(Object.values(PAYLOAD_LIMITS).every((limit) => limit <= MAX_PAYLOAD_BYTES)).toBe(true);
  });

  it('gives a readable message naming the kind and the field', () => {
    const result = parseDeviceMessage('reported', json({ ...reportedExample(), state: 'running' }));
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.code).toBe('invalid_payload');
      expect(result.error.message).toMatch(/^invalid reported message: state: /);
      expect(result.error.details[0]).toMatchObject({ path: 'state' });
    }
  });

  it('bounds the message of a payload with many errors', () => {
    const batch = batchExample();
    const bad = { ...batch, items: Array.from({ length: 100 }, () => ({ ...batch.items[0], ts: 'x' })) };
    const result = parseDeviceMessage('predictions', json(bad));
    expect(!result.ok && result.error.message).toMatch(/and 92 more$/);
  });
});

describe('decodeDeviceMessage', () => {
  it('decodes topic and payload together', () => {
    const decoded = decodeDeviceMessage(topics.hardExamples('cam-01'), json(hardExampleExample()));
    expect(decoded.ok && decoded.value.kind).toBe('hard-examples');
    expect(decoded.ok && decoded.value.deviceId).toBe('cam-01');
  });

  it('refuses a payload that names another device than its topic', () => {
    const decoded = decodeDeviceMessage(topics.predictions('cam-02'), json(batchExample()));
    expect(decoded).toMatchObject({ ok: false, error: { code: 'device_mismatch' } });
  });

  it('refuses a topic that is not a device topic', () => {
    expect(decodeDeviceMessage('edgeloop/v1/devices/+/predictions', json(batchExample()))).toMatchObject({
      ok: false,
      error: { code: 'unknown_topic' },
    });
  });
});

describe('acks (cloud → edge)', () => {
  const ack = (acks: unknown[]) => ({ v: 1, deviceId: 'cam-01', ts: 1_769_860_805_000, acks });

  it('accepts batches by epoch and seq (epoch absent for older edges) and hard examples by id', () => {
    const parsed = parseDeviceMessage(
      'acks',
      json(ack([{ kind: 'predictions', epoch: 'AbCdEfGh12345678', seq: 7 }, { kind: 'predictions', seq: 8 }, { kind: 'hard-examples', id: 'hx-1' }])),
    );
    expect(parsed.ok && parsed.value.acks).toEqual([
      { kind: 'predictions', epoch: 'AbCdEfGh12345678', seq: 7 },
      { kind: 'predictions', seq: 8 },
      { kind: 'hard-examples', id: 'hx-1' },
    ]);
  });

  it('names the bad field', () => {
    expectInvalid(DeviceAckSchema, ack([{ kind: 'predictions', seq: 0 }]), 'acks[0].seq');
    expectInvalid(DeviceAckSchema, ack([{ kind: 'predictions', epoch: 'a:b', seq: 1 }]), 'acks[0].epoch');
    expectInvalid(DeviceAckSchema, ack([{ kind: 'hard-examples', id: 'a/b' }]), 'acks[0].id');
    expectInvalid(DeviceAckSchema, ack([{ kind: 'status', seq: 1 }]), 'acks[0].kind');
    expectInvalid(DeviceAckSchema, ack([]), 'acks');
    expectInvalid(DeviceAckSchema, ack(Array.from({ length: MAX_ACKS_PER_MESSAGE + 1 }, (_, i) => ({ kind: 'predictions', seq: i + 1 }))), 'acks');
    expectInvalid(DeviceAckSchema, { ...ack([{ kind: 'predictions', seq: 1 }]), v: 2 }, 'v');
  });

  it('fits the most entries in its byte limit', () => {
    const biggest = ack(Array.from({ length: MAX_ACKS_PER_MESSAGE }, () => ({ kind: 'hard-examples', id: 'h'.repeat(64) })));
    expect(json(biggest).byteLength).toBeLessThanOrEqual(PAYLOAD_LIMITS.acks);
    expect(parseDeviceMessage('acks', json(biggest)).ok).toBe(true);
  });

  it('refuses an ack on the topic of another device', () => {
    expect(decodeDeviceMessage(topics.acks('cam-02'), json(ack([{ kind: 'predictions', seq: 1 }])))).toMatchObject({
      ok: false,
      error: { code: 'device_mismatch' },
    });
  });

  it('names what to acknowledge for a decoded batch or hard example, nothing for state', () => {
    const batch = decodeDeviceMessage(topics.predictions('cam-01'), json({ ...batchExample(), seq: 4, epoch: 'AbCdEfGh12345678' }));
    expect(batch.ok && ackedItemOf(batch.value)).toEqual({ kind: 'predictions', epoch: 'AbCdEfGh12345678', seq: 4 });
    const old = decodeDeviceMessage(topics.predictions('cam-01'), json({ ...batchExample(), seq: 5 }));
    expect(old.ok && ackedItemOf(old.value)).toEqual({ kind: 'predictions', seq: 5 });
    const hard = decodeDeviceMessage(topics.hardExamples('cam-01'), json(hardExampleExample()));
    expect(hard.ok && ackedItemOf(hard.value)).toEqual({ kind: 'hard-examples', id: hardExampleExample().id });
    const reported = decodeDeviceMessage(topics.reported('cam-01'), json(reportedExample()));
    expect(reported.ok && ackedItemOf(reported.value)).toBeNull();
  });

  it('reads the key of a dead-lettered batch when its JSON still names it, and nothing else', () => {
    expect(looseAckedItem(topics.predictions('cam-01'), json({ seq: 9, epoch: 'AbCdEfGh12345678', items: 'garbage' }))).toEqual({
      deviceId: 'cam-01',
      item: { kind: 'predictions', epoch: 'AbCdEfGh12345678', seq: 9 },
    });
    expect(looseAckedItem(topics.hardExamples('cam-01'), json({ id: 'hx-2', v: 9 }))).toEqual({ deviceId: 'cam-01', item: { kind: 'hard-examples', id: 'hx-2' } });
    expect(looseAckedItem(topics.predictions('cam-01'), json({ seq: -1 }))).toBeNull();
    expect(looseAckedItem(topics.predictions('cam-01'), json({ seq: 3, epoch: 'bad epoch' }))).toBeNull();
    expect(looseAckedItem(topics.predictions('cam-01'), Buffer.from('not json'))).toBeNull();
    expect(looseAckedItem(topics.predictions('cam-01'), json([1, 2]))).toBeNull();
    expect(looseAckedItem(topics.reported('cam-01'), json({ seq: 3 }))).toBeNull();
    expect(looseAckedItem('edgeloop/v1/devices/+/predictions', json({ seq: 3 }))).toBeNull();
  });
});
