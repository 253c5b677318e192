import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import type { CloudConfig } from '../config/cloud.config';
import { OnnxInspectionError, OnnxInspector } from './onnx-inspector';

const BASE = join(__dirname, '..', '..', '..', '..', 'models', 'base');

/** Live child processes of this process (Linux), to see the validator kept or replaced. */
function children(): number[] {
  try {
    return readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('OnnxInspector', () => {
  let dir: string;
  const inspectors: OnnxInspector[] = [];
  const inspector = (timeoutMs = 60_000) => {
    const made = new OnnxInspector({ validationTimeoutMs: timeoutMs } as CloudConfig);
    inspectors.push(made);
    return made;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'onnx-inspector-'));
  });
  afterEach(() => {
    for (const made of inspectors.splice(0)) made.onModuleDestroy();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a model whose large weights it maps from the file, and leaves only that file in its folder', async () => {
    const file = join(dir, '0-embedder');
    copyFileSync(join(BASE, 'fr_feature.onnx'), file);
    const model = await inspector().inspect(file);
    expect(model.ran).toBe(true);
    expect(model.inputs[0]).toMatchObject({ type: 'float32', shape: [expect.anything(), 3, 112, 112] });
    expect(model.outputs[0].runShape).toEqual([1, expect.any(Number)]);
    expect(readdirSync(dir).filter((f) => f.startsWith('0-embedder'))).toEqual(['0-embedder']);
  }, 60_000);

  it('refuses a model whose weight does not fit its declared dims, as onnxruntime does', async () => {
    const model = onnx.ModelProto.decode(readFileSync(join(BASE, 'fr_landmark.onnx')));
    const weight = model.graph!.initializer!.find((t) => (t.rawData?.length ?? 0) >= 64 * 1024)!;
    expect(weight).toBeDefined();
    weight.dims = [Number(weight.dims![0]) + 1, ...weight.dims!.slice(1)];
    const file = join(dir, '1-landmarks');
    writeFileSync(file, onnx.ModelProto.encode(model).finish());
    await expect(inspector().inspect(file)).rejects.toMatchObject({ reason: 'load_failed' });
  }, 60_000);

  it('keeps the validator process for the next file, and uses a new one once it was killed', async () => {
    const file = join(dir, '2-landmarks');
    copyFileSync(join(BASE, 'fr_landmark.onnx'), file);
    const validator = inspector();
    const before = new Set(children());
    await validator.inspect(file);
    const first = children().filter((pid) => !before.has(pid));
    expect(first).toHaveLength(1);
    await validator.inspect(file);
    expect(children().filter((pid) => !before.has(pid))).toEqual(first);

    // killed while it waits, the next file sent before its exit is seen: the file goes to a new validator
    process.kill(first[0], 'SIGKILL');
    expect((await validator.inspect(file)).ran).toBe(true);
    const second = children().filter((pid) => !before.has(pid));
    expect(second).toHaveLength(1);
    expect(second).not.toEqual(first);
  }, 60_000);

  it('gives up on a validator that takes longer than the limit, and kills it', async () => {
    const file = join(dir, '3-embedder');
    copyFileSync(join(BASE, 'fr_feature.onnx'), file);
    const before = new Set(children());
    const error = await inspector(1)
      .inspect(file)
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(OnnxInspectionError);
    expect((error as OnnxInspectionError).reason).toBe('timeout');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(children().filter((pid) => !before.has(pid))).toEqual([]);
  }, 60_000);
});
