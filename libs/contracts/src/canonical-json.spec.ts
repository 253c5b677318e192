import { runInNewContext } from 'node:vm';
import { canonicalJson, CanonicalJsonError } from './canonical-json';

describe('canonicalJson', () => {
  it('writes the same string whatever the key order, with no whitespace', () => {
    const a = { b: 1, a: { d: [1, 'x', null], c: true }, 'é': 'ü' };
    const b = { 'é': 'ü', a: { c: true, d: [1, 'x', null] }, b: 1 };
    expect(canonicalJson(a)).toBe('{"a":{"c":true,"d":[1,"x",null]},"b":1,"é":"ü"}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
  });

  it('sorts keys by UTF-16 code units, as RFC 8785 does', () => {
    expect(canonicalJson({ a: 1, B: 2, _: 3, '10': 4, '9': 5 })).toBe('{"10":4,"9":5,"B":2,"_":3,"a":1}');
  });

  it('keeps array order and leaves out undefined properties', () => {
    expect(canonicalJson([3, 1, 2])).toBe('[3,1,2]');
    expect(canonicalJson({ a: undefined, b: 2 })).toBe('{"b":2}');
  });

  it('writes numbers and strings as JSON.stringify does', () => {
    expect(canonicalJson({ n: 1e21, m: 0.1, z: -0, s: 'line\n"q"' })).toBe('{"m":0.1,"n":1e+21,"s":"line\\n\\"q\\"","z":0}');
  });

  it.each([
    ['NaN', { a: NaN }, '$.a'],
    ['Infinity', { a: [1, Infinity] }, '$.a[1]'],
    ['bigint', { a: 1n }, '$.a'],
    ['a function', { a: () => 1 }, '$.a'],
    ['undefined in an array', [1, undefined], '$[1]'],
    ['a hole in an array', [1, , 3], '$[1]'],
    ['a Map', { m: new Map() }, '$.m'],
    ['a class instance', { c: new (class Point { x = 1 })() }, '$.c'],
    ['a Map of another realm', { m: runInNewContext('new Map()') as unknown }, '$.m'],
  ])('refuses %s and names where', (_what, value, path) => {
    expect(() => canonicalJson(value)).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(value)).toThrow(path);
  });

  it('refuses cycles but accepts a shared, acyclic object twice', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow('cycle');
  });

  it('writes a plain object of another realm (what a worker thread sends arrives in the main realm) as any plain object', () => {
    const foreign = runInNewContext('({ b: [1, { c: "x" }], a: Object.create(null) })') as unknown;
    expect(Object.getPrototypeOf(foreign)).not.toBe(Object.prototype);
    expect(canonicalJson({ doc: foreign })).toBe('{"doc":{"a":{},"b":[1,{"c":"x"}]}}');
  });

  it('uses toJSON, so a Date is its ISO string', () => {
    expect(canonicalJson({ at: new Date('2026-01-31T12:00:00.000Z') })).toBe('{"at":"2026-01-31T12:00:00.000Z"}');
  });
});
