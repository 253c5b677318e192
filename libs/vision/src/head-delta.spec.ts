import { onnx } from 'onnx-proto';
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { buildIdentityHead, encodeQuantisedHead, quantisePrototypes, readIdentityHead, readQuantisedHead, type IdentityPrototypes } from './head';
import { applyHeadDelta, encodeHeadDelta, HeadDeltaError, quantiseAgainstParent, readDeltaBase, readHeadDeltaHeader } from './head-delta';

const DIM = 512;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A seeded generator (mulberry32) of unit vectors. */
function unitVectors(count: number, seed: number): Float32Array[] {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
  return Array.from({ length: count }, () => {
    const v = Float32Array.from({ length: DIM }, next);
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });
}

function moved(v: Float32Array, by: Float32Array, amount: number): Float32Array {
  const out = v.map((x, i) => x + amount * by[i]);
  const norm = Math.hypot(...out);
  return out.map((x) => x / norm);
}

const labels = (n: number, from = 0) => Array.from({ length: n }, (_, j) => `id-${String(j + from).padStart(4, '0')}`);

describe('int8 head encoding', () => {
  it('buildIdentityHead(int8) is encodeQuantisedHead of quantisePrototypes, and readQuantisedHead gives those values back', () => {
    const head: IdentityPrototypes = { labels: labels(20), prototypes: unitVectors(20, 1) };
    const bytes = buildIdentityHead(head, { weights: 'int8' });
    const q = quantisePrototypes(head);
    expect(Buffer.from(encodeQuantisedHead(q)).equals(Buffer.from(bytes))).toBe(true);
    const read = readQuantisedHead(bytes)!;
    expect(read.labels).toEqual(head.labels);
    expect(read.dim).toBe(DIM);
    expect(Array.from(read.values)).toEqual(Array.from(q.values));
    expect(Array.from(read.scales)).toEqual(Array.from(q.scales));
    expect(Buffer.from(encodeQuantisedHead(read)).equals(Buffer.from(bytes))).toBe(true);
    expect(readQuantisedHead(buildIdentityHead(head))).toBeUndefined();
    expect(readQuantisedHead(new Uint8Array([1, 2, 3]))).toBeUndefined();
  });
});

describe('quantiseAgainstParent', () => {
  const base: IdentityPrototypes = { labels: labels(40), prototypes: unitVectors(40, 2) };
  const parent = quantisePrototypes(base);
  const noise = unitVectors(40, 3);

  it('keeps the parent column of an identity that moved less than the quantisation bound, rewrites the others, and every score stays within √D·s/2', () => {
    // 30 identities barely move (a re-fit), 8 move far, 2 are new; one of the parent's is gone
    const next: IdentityPrototypes = {
      labels: [...labels(38, 1), ...labels(2, 100)],
      prototypes: [
        ...base.prototypes.slice(1, 31).map((p, j) => moved(p, noise[j], 0.002)),
        ...base.prototypes.slice(31, 39).map((p, j) => moved(p, noise[j], 0.2)),
        ...unitVectors(2, 4),
      ],
    };
    const result = quantiseAgainstParent(next, parent);
    expect(result).toMatchObject({ reused: 30, rewritten: 8, added: 2 });
    const fresh = quantisePrototypes(next);
    const k = next.labels.length;
    for (let j = 0; j < k; j++) {
      const p = base.labels.indexOf(next.labels[j]);
      const column = (values: Int8Array, width: number, col: number) => Array.from({ length: DIM }, (_, i) => values[i * width + col]);
      if (j < 30) {
        expect(column(result.quantised.values, k, j)).toEqual(column(parent.values, 40, p));
        expect(result.quantised.scales[j]).toBe(parent.scales[p]);
      } else {
        expect(column(result.quantised.values, k, j)).toEqual(column(fresh.values, k, j));
      }
    }
    // the scores of the shipped head against those of the float head: within the bound for every identity
    const shipped = readIdentityHead(encodeQuantisedHead(result.quantised));
    for (const probe of unitVectors(20, 5)) {
      for (let j = 0; j < k; j++) {
        let exact = 0;
        let quantised = 0;
        for (let i = 0; i < DIM; i++) {
          exact += probe[i] * next.prototypes[j][i];
          quantised += probe[i] * shipped.prototypes[j][i];
        }
        expect(Math.abs(exact - quantised)).toBeLessThanOrEqual((Math.sqrt(DIM) * fresh.scales[j]) / 2 + 1e-6);
      }
    }
  });

  it('quantises afresh without a parent or with a parent of another width', () => {
    expect(quantiseAgainstParent(base, undefined)).toMatchObject({ reused: 0, added: 40 });
    expect(quantiseAgainstParent(base, { ...parent, dim: 128, values: new Int8Array(128 * 40) })).toMatchObject({ reused: 0, rewritten: 40 });
    expect(Array.from(quantiseAgainstParent(base, undefined).quantised.values)).toEqual(Array.from(parent.values));
  });
});

describe('head deltas', () => {
  const n = 200;
  const base: IdentityPrototypes = { labels: labels(n), prototypes: unitVectors(n, 6) };
  const baseBytes = buildIdentityHead(base, { weights: 'int8' });
  const noise = unitVectors(n, 7);
  // a retrain: every row re-fitted a little, 5 moved, 3 newcomers, one person removed
  const next: IdentityPrototypes = {
    labels: [...labels(n - 1, 1), ...labels(3, 1000)],
    prototypes: [...base.prototypes.slice(1).map((p, j) => moved(p, noise[j], j < 5 ? 0.3 : 0.001)), ...unitVectors(3, 8)],
  };
  const targetBytes = encodeQuantisedHead(quantiseAgainstParent(next, readQuantisedHead(baseBytes)).quantised);

  it('round trip: the delta carries only the changed and new columns and rebuilds the target byte for byte', () => {
    const delta = encodeHeadDelta(baseBytes, targetBytes)!;
    expect(delta).toMatchObject({ copied: n - 1 - 5, carried: 8 });
    const rebuilt = applyHeadDelta(baseBytes, delta.bytes);
    expect(sha256(rebuilt)).toBe(sha256(targetBytes));
    expect(delta.bytes.byteLength).toBeLessThan(8 * (DIM + 4) + 1000);
    expect(delta.bytes.byteLength).toBeLessThan(targetBytes.byteLength / 10);
    const { header } = readHeadDeltaHeader(delta.bytes);
    expect(header).toMatchObject({ base: sha256(baseBytes), target: { sha256: sha256(targetBytes), size: targetBytes.byteLength }, dim: DIM });
    // identical heads: nothing carried
    expect(encodeHeadDelta(targetBytes, targetBytes)).toMatchObject({ copied: n + 2, carried: 0 });
  });

  it('refuses another base, and makes no delta to a float32 head', () => {
    const delta = encodeHeadDelta(baseBytes, targetBytes)!;
    const other = buildIdentityHead({ labels: base.labels, prototypes: unitVectors(n, 9) }, { weights: 'int8' });
    expect(() => applyHeadDelta(other, delta.bytes)).toThrow(expect.objectContaining({ reason: 'base_mismatch' }));
    expect(() => applyHeadDelta(targetBytes, delta.bytes)).toThrow(HeadDeltaError);
    expect(encodeHeadDelta(baseBytes, buildIdentityHead(next))).toBeUndefined();
  });

  it('from a float32 base (an upload): its columns quantised the one way on both sides, only the changed ones carried', () => {
    const floatBase = buildIdentityHead(base);
    const read = readDeltaBase(floatBase)!;
    expect(read.weights).toBe('float32');
    // the same int8 values and scales as the int8 head built from the same prototypes
    expect(Buffer.from(encodeQuantisedHead(read.quantised)).equals(Buffer.from(baseBytes))).toBe(true);
    // the target trained against the float32 parent keeps its quantised columns where they fit
    const target = encodeQuantisedHead(quantiseAgainstParent(next, read.quantised).quantised);
    const delta = encodeHeadDelta(floatBase, target)!;
    expect(delta).toMatchObject({ copied: n - 1 - 5, carried: 8 });
    expect(readHeadDeltaHeader(delta.bytes).header).toMatchObject({ base: sha256(floatBase), baseWeights: 'float32' });
    expect(delta.bytes.byteLength).toBeLessThan(targetBytes.byteLength / 10);
    expect(sha256(applyHeadDelta(floatBase, delta.bytes))).toBe(sha256(target));
    // the int8 delta does not apply to the float32 head (another sha256), nor a float32 delta to an int8 head
    expect(() => applyHeadDelta(floatBase, encodeHeadDelta(baseBytes, targetBytes)!.bytes)).toThrow(expect.objectContaining({ reason: 'base_mismatch' }));
    // a float32 head without its labels, or with a value that does not quantise, is no base
    const unlabelled = onnx.ModelProto.decode(floatBase);
    unlabelled.metadataProps = [];
    expect(readDeltaBase(onnx.ModelProto.encode(unlabelled).finish())).toBeUndefined();
    const broken = { labels: base.labels, prototypes: base.prototypes.map((p, j) => (j === 3 ? p.map((v, i) => (i === 0 ? NaN : v)) : p)) };
    expect(readDeltaBase(buildIdentityHead(broken))).toBeUndefined();
    expect(readDeltaBase(new Uint8Array([1, 2, 3]))).toBeUndefined();
  });

  it('a delta whose header names the wrong kind of base is refused as malformed', () => {
    const raw = gunzipSync(encodeHeadDelta(baseBytes, targetBytes)!.bytes);
    const headerLength = raw.readUInt32LE(0);
    const header = JSON.parse(raw.subarray(4, 4 + headerLength).toString('utf8'));
    const json = Buffer.from(JSON.stringify({ ...header, baseWeights: 'float32' }));
    const length = Buffer.alloc(4);
    length.writeUInt32LE(json.length);
    const delta = new Uint8Array(gzipSync(Buffer.concat([length, json, raw.subarray(4 + headerLength)])));
    expect(() => applyHeadDelta(baseBytes, delta)).toThrow(expect.objectContaining({ reason: 'malformed' }));
  });

  it('a corrupted delta is refused as malformed or rebuilds bytes that fail the digest check', () => {
    const delta = encodeHeadDelta(baseBytes, targetBytes)!;
    // bytes that are not gzip, a truncated stream, a header that is not the schema
    expect(() => applyHeadDelta(baseBytes, new Uint8Array([1, 2, 3, 4]))).toThrow(expect.objectContaining({ reason: 'malformed' }));
    expect(() => applyHeadDelta(baseBytes, delta.bytes.subarray(0, delta.bytes.length - 20))).toThrow(expect.objectContaining({ reason: 'malformed' }));
    const raw = gunzipSync(delta.bytes);
    const headerLength = raw.readUInt32LE(0);
    const header = JSON.parse(raw.subarray(4, 4 + headerLength).toString('utf8'));
    const repack = (value: unknown, body: Buffer) => {
      const json = Buffer.from(JSON.stringify(value));
      const length = Buffer.alloc(4);
      length.writeUInt32LE(json.length);
      return new Uint8Array(gzipSync(Buffer.concat([length, json, body])));
    };
    const body = raw.subarray(4 + headerLength);
    expect(() => applyHeadDelta(baseBytes, repack({ ...header, extra: 1 }, body))).toThrow(expect.objectContaining({ reason: 'malformed' }));
    expect(() => applyHeadDelta(baseBytes, repack(header, body.subarray(1)))).toThrow(expect.objectContaining({ reason: 'malformed' }));
    expect(() => applyHeadDelta(baseBytes, repack({ ...header, columns: [{ from: n - 1, count: 2 }] }, Buffer.alloc(0)))).toThrow(
      expect.objectContaining({ reason: 'malformed' }),
    );
    // one weight changed in the body: a well-formed head, but not the one the manifest names
    const flipped = Buffer.from(body);
    flipped[10] ^= 0x01;
    const rebuilt = applyHeadDelta(baseBytes, repack(header, flipped));
    expect(sha256(rebuilt)).not.toBe(sha256(targetBytes));
    expect(sha256(rebuilt)).not.toBe(header.target.sha256);
  });
});
