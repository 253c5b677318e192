import type { OnnxInspection, TensorInfo } from './onnx-inspector';
import { checkRole, embeddingWidth } from './role-rules';

const tensor = (name: string, shape: Array<number | string>, type = 'float32'): TensorInfo => ({ name, isTensor: true, type, shape });
const model = (inputs: TensorInfo[], outputs: TensorInfo[], ran = true): OnnxInspection => ({ inputs, outputs, ran });

describe('checkRole', () => {
  const detector = model([tensor('input', [1, 3, 240, 320])], [tensor('scores', [1, 4420, 2]), tensor('boxes', [1, 4420, 4])]);
  const landmarks = model([tensor('input', [1, 1, 64, 64])], [tensor('out', [1, 136])]);
  const embedder = model([tensor('input', [1, 3, 112, 112])], [tensor('emb', [1, 512])]);
  const head = model([tensor('embedding', ['N', 512])], [tensor('scores', ['N', 3])]);

  it('accepts models that fit their role', () => {
    expect(checkRole('detector', detector)).toEqual([]);
    expect(checkRole('landmarks', landmarks)).toEqual([]);
    expect(checkRole('embedder', embedder)).toEqual([]);
    expect(checkRole('head', head, { labels: 3, embeddingDim: 512 })).toEqual([]);
    expect(embeddingWidth(embedder)).toBe(512);
  });

  it('names what does not fit', () => {
    expect(checkRole('embedder', landmarks).join()).toMatch(/1 channels, expected 3/);
    expect(checkRole('detector', embedder).join()).toMatch(/two outputs/);
    expect(checkRole('landmarks', embedder).join()).toMatch(/136/);
    expect(checkRole('head', detector).join()).toMatch(/\[N, D\] embeddings/);
    expect(checkRole('head', head, { labels: 4 }).join()).toMatch(/3 scores but the manifest has 4 labels/);
    expect(checkRole('head', head, { embeddingDim: 128 }).join()).toMatch(/512-d embeddings but the embedder gives 128/);
    expect(checkRole('embedder', model([tensor('input', [1, 3, 112, 112], 'uint8')], [tensor('e', [1, 512])])).join()).toMatch(/uint8, expected float32/);
  });

  it('refuses a model that loads but cannot run', () => {
    const broken = { ...embedder, ran: false, runError: 'shape mismatch' };
    expect(checkRole('embedder', broken).join()).toMatch(/fails to run on a zero input: shape mismatch/);
  });
});
