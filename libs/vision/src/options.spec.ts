import { InvalidVisionOptionsError } from './errors';
import { parseVisionOptions } from './options';

const models = { detector: 'd.onnx', landmarks: 'l.onnx', embedder: 'e.onnx' };

function issuesOf(input: unknown): { field: string; message: string }[] {
  try {
    parseVisionOptions(input);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidVisionOptionsError);
    expect((err as InvalidVisionOptionsError).code).toBe('INVALID_VISION_OPTIONS');
    return (err as InvalidVisionOptionsError).issues;
  }
  throw new Error('expected the options to be rejected');
}

describe('parseVisionOptions', () => {
  it('fills defaults for the embedded mode', () => {
    const o = parseVisionOptions({ models });
    expect(o).toMatchObject({
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      detectionThreshold: 0.8,
      nmsIou: 0.4,
      matchThreshold: 0.45,
      minMargin: 0.05,
      embedderChannelOrder: 'bgr',
      detectorChannelOrder: 'rgb',
      includeEmbeddings: false,
    });
  });

  it('accepts models as Buffers', () => {
    const bytes = Buffer.from([1, 2, 3]);
    const o = parseVisionOptions({ models: { ...models, embedder: bytes, head: new Uint8Array(4) }, labels: ['a'] });
    expect(o.models.embedder).toBe(bytes);
  });

  it('lists every bad field in one error', () => {
    const issues = issuesOf({
      models: { detector: '', landmarks: 42 },
      intraOpNumThreads: 0,
      interOpNumThreads: 1.5,
      executionMode: 'fast',
      detectionThreshold: 1.2,
      nmsIou: -1,
      matchThreshold: 'high',
      minMargin: -0.1,
      colour: true,
    });
    const fields = issues.map((i) => i.field).sort();
    expect(fields).toEqual(
      [
        '(options)', // unknown key "colour"
        'detectionThreshold',
        'executionMode',
        'interOpNumThreads',
        'intraOpNumThreads',
        'matchThreshold',
        'minMargin',
        'models.detector',
        'models.embedder',
        'models.landmarks',
        'nmsIou',
      ].sort(),
    );
    const message = (() => {
      try {
        parseVisionOptions({ models, detectionThreshold: 2, intraOpNumThreads: -1 });
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    })();
    expect(message).toMatch(/detectionThreshold: must be < 1/);
    expect(message).toMatch(/intraOpNumThreads: must be ≥ 1/);
  });

  it('requires unique labels alongside a head', () => {
    expect(issuesOf({ models: { ...models, head: 'h.onnx' } })).toEqual([
      { field: 'labels', message: 'required when models.head is given' },
    ]);
    expect(issuesOf({ models: { ...models, head: 'h.onnx' }, labels: ['a', 'a'] })).toEqual([
      { field: 'labels', message: 'must be unique' },
    ]);
  });

  it('rejects a missing models object', () => {
    expect(issuesOf({}).map((i) => i.field)).toEqual(['models']);
    expect(issuesOf(undefined).map((i) => i.field)).toEqual(['(options)']);
  });
});
