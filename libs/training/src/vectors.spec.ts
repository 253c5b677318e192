import { copyVector, decodeVectorBase64, dot, encodeVectorBase64, normalise, normalisedMean } from './vectors';

describe('vectors', () => {
  it('dot product, including the unrolled tail', () => {
    expect(dot(Float32Array.from([1, 2, 3, 4, 5]), Float32Array.from([5, 4, 3, 2, 1]))).toBe(35);
    expect(dot(new Float32Array(0), new Float32Array(0))).toBe(0);
  });

  it('copies a vector into a matrix row as set() would, from views with offsets too, and refuses what does not fit', () => {
    const rows = new Float32Array(3 * 4).fill(-1);
    const backing = Float32Array.from([9, 1.5, -2.25, Number.NaN, 1e-40, 9]);
    const source = backing.subarray(1, 5); // a view at a byte offset of 4
    copyVector(rows, source, 4);
    expect(Array.from(rows.subarray(0, 4))).toEqual([-1, -1, -1, -1]);
    expect(Array.from(rows.subarray(4, 8))).toEqual(Array.from(source)); // NaN and a subnormal kept bit for bit
    expect(Array.from(rows.subarray(8))).toEqual([-1, -1, -1, -1]);
    const view = new Float32Array(new ArrayBuffer(40), 8, 6); // the target a view too
    copyVector(view, source, 2);
    expect(Array.from(view)).toEqual([0, 0, ...Array.from(source)]);
    const shared = new Float32Array(new SharedArrayBuffer(16));
    copyVector(shared, source, 0);
    expect(Array.from(shared)).toEqual(Array.from(source));
    expect(() => copyVector(rows, source, 9)).toThrow(RangeError);
    expect(() => copyVector(rows, source, -1)).toThrow(RangeError);
  });

  it('normalises in place and leaves a zero vector alone', () => {
    const v = Float32Array.from([3, 4]);
    expect(normalise(v)).toBe(v);
    expect(Array.from(v)).toEqual([0.6000000238418579, 0.800000011920929]);
    expect(Array.from(normalise(new Float32Array(2)))).toEqual([0, 0]);
  });

  it('normalised mean', () => {
    const m = normalisedMean([Float32Array.from([1, 0]), Float32Array.from([0, 1])]);
    expect(m[0]).toBeCloseTo(Math.SQRT1_2, 7);
    expect(m[1]).toBeCloseTo(Math.SQRT1_2, 7);
  });

  it('base64 of little-endian float32 values, both ways', () => {
    const v = Float32Array.from([1, -2.5, 0.1, Number.MIN_VALUE, 3.4e38]);
    const text = encodeVectorBase64(v);
    // the bytes are little-endian whatever the machine: 1.0f is 00 00 80 3f
    expect(Buffer.from(text, 'base64').subarray(0, 4)).toEqual(Buffer.from([0, 0, 0x80, 0x3f]));
    const back = decodeVectorBase64(text);
    expect(Array.from(back)).toEqual(Array.from(v));
    expect(back.byteOffset).toBe(0);
    // a view into a larger buffer encodes only its own values
    const big = Float32Array.from([9, 1, -2.5, 9]);
    expect(encodeVectorBase64(big.subarray(1, 3))).toBe(encodeVectorBase64(Float32Array.from([1, -2.5])));
    expect(() => decodeVectorBase64(Buffer.from([1, 2, 3]).toString('base64'))).toThrow('not whole float32 values');
    // text the fast path cannot take whole (a line break inside, as some encoders write) decodes the same as before
    expect(Array.from(decodeVectorBase64(`${text.slice(0, 8)}\n${text.slice(8)}`))).toEqual(Array.from(v));
    expect(decodeVectorBase64('').length).toBe(0);
  });
});
