import { ApiClient, uploadMultipart } from '@edgeloop/client';
import { apiPaths, type ModelVersionResponse } from '@edgeloop/contracts';
import { buildIdentityHead, l2Normalise } from '@edgeloop/vision';
import { copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The base bundle's files as `fetch-assets` puts them in models/base, by manifest role. */
const BASE_FILES = { detector: 'fr_detect.onnx', landmarks: 'fr_landmark.onnx', embedder: 'fr_feature.onnx' } as const;
const EMBEDDING_DIM = 512;

export interface UploadedVersion {
  ref: { name: string; version: number };
  /** Bytes of each role as registered. */
  files: Record<string, { sha256: string; size: number }>;
  uploadMs: number;
}

/**
 * Registers `count` versions of one model through the API (multipart upload, as `edgeloop models push`
 * does): each is the base bundle (detector, landmarks, embedder) with its own identity head of
 * `identities` prototypes, so two consecutive versions differ by their head only.
 */
export async function uploadVersions(api: ApiClient, baseDir: string, workDir: string, name: string, count: number, identities: number): Promise<UploadedVersion[]> {
  const parts = Object.entries(BASE_FILES).map(([role, file]) => {
    const copy = path.join(workDir, file);
    copyFileSync(path.join(baseDir, file), copy);
    return { field: role, file: copy };
  });
  const labels = Array.from({ length: identities }, (_, i) => `person-${String(i).padStart(3, '0')}`);
  const versions: UploadedVersion[] = [];
  for (let seed = 1; seed <= count; seed++) {
    const head = path.join(workDir, `head-${seed}.onnx`);
    writeFileSync(head, identityHead(labels, seed));
    const started = performance.now();
    const answer = await uploadMultipart<ModelVersionResponse>(api, apiPaths.modelVersions(name), [...parts, { field: 'head', file: head }], {
      manifest: JSON.stringify({ labels }),
    });
    versions.push({
      ref: { name: answer.name, version: answer.version },
      files: Object.fromEntries(answer.manifest.files.map((f) => [f.role, { sha256: f.sha256, size: f.size }])),
      uploadMs: performance.now() - started,
    });
  }
  return versions;
}

/** A real identity head (MatMul against unit prototypes), seeded so each version's head differs. */
function identityHead(labels: string[], seed: number): Uint8Array {
  let state = seed;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const prototypes = labels.map(() => l2Normalise(Float32Array.from({ length: EMBEDDING_DIM }, random)));
  return buildIdentityHead({ labels, prototypes });
}
