import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildIdentityHead, l2Normalise } from '@edgeloop/vision';

export const repoRoot = resolve(__dirname, '..', '..', '..', '..');
export const baseModelsDir = join(repoRoot, 'models', 'base');

export const baseFiles = {
  detector: readFileSync(join(baseModelsDir, 'fr_detect.onnx')),
  landmarks: readFileSync(join(baseModelsDir, 'fr_landmark.onnx')),
  embedder: readFileSync(join(baseModelsDir, 'fr_feature.onnx')),
};

/** A real identity head (MatMul against K unit prototypes) for `labels`, seeded for repeatability. */
export function makeHead(labels: string[], seed = 1): Buffer {
  let state = seed;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const prototypes = labels.map(() => l2Normalise(Float32Array.from({ length: 512 }, random)));
  return Buffer.from(buildIdentityHead({ labels, prototypes }));
}

/** A multipart form with one part per role and an optional manifest field. */
export function uploadForm(files: Record<string, Buffer | Uint8Array>, manifest?: unknown): FormData {
  const form = new FormData();
  if (manifest !== undefined) form.append('manifest', typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
  for (const [role, bytes] of Object.entries(files)) {
    form.append(role, new Blob([new Uint8Array(bytes)]), `${role}.onnx`);
  }
  return form;
}
