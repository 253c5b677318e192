import fc from 'fast-check';
import { isValidPredictionBatch } from './prediction-check';
import { decodeDeviceMessage, looseAckedItem } from './device-messages';
import { decodePredictionBatch, encodePredictionColumns, looseColumnsFields, predictionBatchEncoding } from './prediction-encoding';
import { topics } from './topics';
import { PredictionBatchSchema, type PredictionBatch } from './predictions';
import { batchExample } from './testing/examples';

const LIMIT = 512 * 1024;

/** The example batch as the edge sends it: an epoch, the centroid rounded to 5 decimals. */
function withEpoch(): PredictionBatch {
  const batch: PredictionBatch = { ...batchExample(), epoch: 'AbCdEfGh12345678' };
  batch.embeddingCentroid!.mean = batch.embeddingCentroid!.mean.map((v) => Math.round(v * 1e5) / 1e5 || 0); // no -0: JSON has none
  return batch;
}

describe('prediction batch encodings', () => {
  it('reads a columns payload back as the batch that was encoded, floats as the decimals the edge sent', () => {
    const batch = withEpoch();
    const encoded = encodePredictionColumns(batch);
    expect(predictionBatchEncoding(encoded)).toBe('columns');
    expect(encoded.byteLength).toBeLessThan(Buffer.byteLength(JSON.stringify(batch)));
    expect(decodePredictionBatch(encoded, LIMIT)).toEqual({ ok: true, value: batch });
  });

  it('keeps a float the edge did not round to float32 precision', () => {
    const batch = batchExample();
    const decoded = decodePredictionBatch(encodePredictionColumns(batch), LIMIT);
    if (!decoded.ok) throw new Error(decoded.error.message);
    decoded.value.embeddingCentroid!.mean.forEach((v, i) => expect(v).toBeCloseTo(batch.embeddingCentroid!.mean[i]!, 6));
  });

  it('still reads JSON, as text or bytes', () => {
    const batch = withEpoch();
    expect(predictionBatchEncoding(Buffer.from(JSON.stringify(batch)))).toBe('json');
    expect(decodePredictionBatch(Buffer.from(JSON.stringify(batch)), LIMIT)).toEqual({ ok: true, value: batch });
    expect(decodePredictionBatch(` ${JSON.stringify(batch)}`, LIMIT)).toEqual({ ok: true, value: batch });
  });

  it('refuses an invalid value inside the columns with the field named by the schema', () => {
    const batch = withEpoch();
    batch.items[0]!.faces[0]!.detScore = 1.5;
    const result = decodePredictionBatch(encodePredictionColumns(batch), LIMIT);
    expect(result).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    expect(!result.ok && result.error.message).toContain('items[0].faces[0].detScore');
  });

  it('refuses a frame outside the window, an unknown label index and a columns payload over the limit', () => {
    const late = withEpoch();
    late.items[2]!.ts = late.window.end + 1;
    expect(decodePredictionBatch(encodePredictionColumns(late), LIMIT)).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    const encoded = encodePredictionColumns(withEpoch());
    expect(decodePredictionBatch(encoded, encoded.byteLength - 1)).toMatchObject({ ok: false, error: { code: 'too_large' } });
  });

  it('never throws on damaged columns payloads: truncated, bytes flipped, or any bytes that start like a map', () => {
    const encoded = Buffer.from(encodePredictionColumns(withEpoch()));
    for (const cut of [1, 2, 10, encoded.length >> 1, encoded.length - 1]) {
      const result = decodePredictionBatch(encoded.subarray(0, cut), LIMIT);
      expect(result.ok).toBe(false);
      expect(['invalid_encoding', 'invalid_payload']).toContain(!result.ok && result.error.code);
    }
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.nat(encoded.length - 1), fc.integer({ min: 0, max: 255 }), (tail, at, byte) => {
        const flipped = Buffer.from(encoded);
        flipped[at] = byte;
        for (const payload of [Buffer.concat([Buffer.from([0x8c]), tail]), flipped]) {
          const result = decodePredictionBatch(payload, LIMIT);
          if (result.ok) expect(PredictionBatchSchema.safeParse(result.value).success).toBe(true);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('a columns batch that fails validation (dead-lettered by the cloud)', () => {
  it('is refused with the reason, and still names the (epoch, seq) to acknowledge; an unreadable one names nothing', () => {
    const batch = { ...withEpoch(), deviceId: 'cam-01', seq: 7 };
    batch.items[0]!.faces[0]!.detScore = 1.5;
    const encoded = encodePredictionColumns(batch);
    const decoded = decodeDeviceMessage(topics.predictions('cam-01'), encoded);
    expect(decoded).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    expect(!decoded.ok && decoded.error.message).toMatch(/^invalid predictions message: .*items\[0\]\.faces\[0\]\.detScore/);
    expect(looseAckedItem(topics.predictions('cam-01'), encoded)).toEqual({
      deviceId: 'cam-01',
      item: { kind: 'predictions', epoch: 'AbCdEfGh12345678', seq: 7 },
    });
    const cut = encoded.subarray(0, 40);
    expect(decodeDeviceMessage(topics.predictions('cam-01'), cut)).toMatchObject({ ok: false, error: { code: 'invalid_encoding' } });
    expect(looseAckedItem(topics.predictions('cam-01'), cut)).toBeNull();
    expect(looseColumnsFields(encoded, encoded.byteLength - 1)).toBeNull();
    expect(looseColumnsFields(Buffer.from([0x92, 0x01, 0x02]), LIMIT)).toBeNull(); // an array, not a map
  });
});

/** Leaves of a batch a mutation may hit, by path. */
const PATHS: ReadonlyArray<ReadonlyArray<string | number>> = [
  ['v'],
  ['deviceId'],
  ['seq'],
  ['epoch'],
  ['model'],
  ['model', 'name'],
  ['model', 'version'],
  ['window', 'start'],
  ['window', 'end'],
  ['dropped', 'skipped'],
  ['dropped', 'failed'],
  ['items'],
  ['items', 0],
  ['items', 0, 'ts'],
  ['items', 1, 'faces'],
  ['items', 0, 'faces', 0, 'identity'],
  ['items', 0, 'faces', 0, 'score'],
  ['items', 0, 'faces', 0, 'margin'],
  ['items', 0, 'faces', 0, 'detScore'],
  ['items', 0, 'faces', 0, 'box'],
  ['items', 0, 'faces', 0, 'box', 'width'],
  ['items', 0, 'faces', 0, 'box', 'x'],
  ['items', 0, 'stats', 'brightness'],
  ['items', 0, 'stats', 'contrast'],
  ['items', 0, 'stats', 'sharpness'],
  ['items', 0, 'stats', 'width'],
  ['items', 1, 'stats', 'height'],
  ['items', 0, 'timings', 'decode'],
  ['items', 0, 'timings', 'total'],
  ['items', 2, 'timings', 'embed'],
  ['embeddingCentroid'],
  ['embeddingCentroid', 'count'],
  ['embeddingCentroid', 'mean'],
  ['embeddingCentroid', 'mean', 511],
];

const strangeValue = fc.oneof(
  fc.constantFrom(null, undefined, NaN, Infinity, -Infinity, -1, 0, 1, 1.5, 255, 256, -0.0001, 2 ** 53, 8.64e15 + 1, '', 'x', 'AbCdEfGh', [], {}, true),
  fc.double(),
  fc.integer(),
  fc.string({ maxLength: 140 }),
  fc.array(fc.double(), { maxLength: 3 }),
);

function mutate(batch: PredictionBatch, path: ReadonlyArray<string | number>, value: unknown): unknown {
  const copy = structuredClone(batch) as unknown as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) return copy; // an earlier mutation removed the parent
    node = next as Record<string | number, unknown>;
  }
  const last = path[path.length - 1]!;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

describe('isValidPredictionBatch (the fast validator)', () => {
  it('accepts the valid batches the edge sends (so the fast path is taken)', () => {
    expect(isValidPredictionBatch(withEpoch())).toBe(true);
    expect(isValidPredictionBatch(batchExample())).toBe(true);
  });

  it('never accepts what PredictionBatchSchema refuses, over random damage to every field', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PATHS), strangeValue, fc.constantFrom(...PATHS), strangeValue, (path, value, path2, value2) => {
        const damaged = mutate(mutate(withEpoch(), path, value) as PredictionBatch, path2, value2);
        if (isValidPredictionBatch(damaged)) expect(PredictionBatchSchema.safeParse(damaged).success).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses the damage zod refuses in the common cases', () => {
    const cases: Array<[ReadonlyArray<string | number>, unknown]> = [
      [['items', 0, 'faces', 0, 'detScore'], 1.01],
      [['items', 0, 'stats', 'brightness'], 256],
      [['items', 0, 'faces', 0, 'score'], NaN],
      [['items', 0, 'timings', 'total'], -1],
      [['embeddingCentroid', 'mean', 3], Infinity],
      [['epoch'], 'short'],
      [['seq'], 0],
    ];
    for (const [path, value] of cases) {
      const damaged = mutate(withEpoch(), path, value);
      expect(PredictionBatchSchema.safeParse(damaged).success).toBe(false);
      expect(isValidPredictionBatch(damaged)).toBe(false);
    }
  });
});
