import { generateKeyPairSync } from 'node:crypto';
import type { ModelManifest } from '../manifest';
import type { UnsignedDesiredState } from '../desired-state';
import type { ReportedState } from '../reported-state';
import type { PredictionBatch } from '../predictions';
import type { HardExample } from '../predictions';
import { blobPath } from '../desired-state';
import { signManifest, keyIdFor } from '../signing';

/** Realistic messages for the contract specs; each spec mutates a fresh copy. */

export const SHA = {
  detector: '6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854',
  embedder: '87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581',
  head: '1f0b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258',
} as const;

export function manifestExample(): ModelManifest {
  return {
    schema: 'edgeloop.model/v1',
    name: 'face-id',
    version: 7,
    parent: 6,
    files: [
      { role: 'detector', sha256: SHA.detector, size: 1217758, format: 'onnx', path: 'fr_detect.onnx' },
      { role: 'embedder', sha256: SHA.embedder, size: 4884269, format: 'onnx' },
      { role: 'head', sha256: SHA.head, size: 20544, format: 'onnx' },
    ],
    labels: ['id-0001', 'id-0002', 'id-0003'],
    thresholds: { detection: 0.7, match: 0.45 },
    metrics: { accuracy: 0.97, 'tarAtFar1e-3': 0.93 },
    createdBy: 'retraining',
    createdAt: '2026-01-31T12:00:00.000Z',
  };
}

export function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, keyId: keyIdFor(publicKey) };
}

export function unsignedDesiredExample(keys: ReturnType<typeof keyPair>): UnsignedDesiredState {
  const manifest = manifestExample();
  return {
    v: 1,
    deviceId: 'cam-01',
    deploymentId: 'dep_01HZX3',
    model: { name: manifest.name, version: manifest.version },
    manifest: signManifest(manifest, keys.privateKey, keys.keyId),
    blobs: manifest.files.map((file) => ({ sha256: file.sha256, size: file.size, url: blobPath(file.sha256) })),
    rollback: false,
    issuedAt: 1_769_860_800_000,
  };
}

export function reportedExample(): ReportedState {
  return {
    v: 1,
    deviceId: 'cam-01',
    ts: 1_769_860_805_000,
    agentVersion: '0.1.0',
    state: 'active',
    failure: null,
    deploymentId: 'dep_01HZX3',
    running: { name: 'face-id', version: 7 },
    lastKnownGood: { name: 'face-id', version: 6 },
    target: null,
    health: { fps: 11.5, latencyMs: { p50: 61.2, p95: 88.9 }, rssBytes: 131_000_000, outboxDepth: 0, outboxDropped: 0, droppedFrames: 3 },
  };
}

export function embeddingExample(seed = 1): number[] {
  return Array.from({ length: 512 }, (_, i) => Math.sin(seed * 31 + i) / 22.6);
}

export function batchExample(): PredictionBatch {
  const start = 1_769_860_800_000;
  return {
    v: 1,
    deviceId: 'cam-01',
    seq: 42,
    model: { name: 'face-id', version: 7 },
    window: { start, end: start + 5000 },
    items: [
      {
        ts: start + 100,
        faces: [{ identity: 'id-0001', score: 0.71, margin: 0.32, detScore: 0.98, box: { x: 120, y: 64, width: 88, height: 104 } }],
        stats: { brightness: 118.2, contrast: 52.3, sharpness: 143.5, width: 320, height: 240 },
        timings: { decode: 2.1, detect: 18.4, align: 1.2, embed: 35.0, head: 0.3, total: 57.0 },
      },
      {
        ts: start + 200,
        faces: [{ identity: null, score: 0.31, margin: 0.05, detScore: 0.91 }],
        stats: { brightness: 117.9, contrast: 51.8, sharpness: 140.1 },
        timings: { detect: 18.1, align: 1.1, embed: 34.2, head: 0.3, total: 54.0 },
      },
      { ts: start + 300, faces: [], stats: { brightness: 117.5, contrast: 51.2, sharpness: 139 }, timings: { detect: 17.9, align: 0, embed: 0, head: 0, total: 18.0 } },
    ],
    dropped: { skipped: 2, failed: 0 },
    embeddingCentroid: { count: 2, mean: embeddingExample(3) },
  };
}

/** A tiny but real JPEG header in base64 (SOI + APP0 marker): enough for the `/9j/` check. */
export const JPEG_BASE64 = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01]).toString('base64');

export function hardExampleExample(): HardExample {
  return {
    v: 1,
    deviceId: 'cam-01',
    id: 'hx_0001',
    ts: 1_769_860_800_200,
    model: { name: 'face-id', version: 7 },
    reason: 'unknown',
    candidate: 'id-0002',
    score: 0.31,
    margin: 0.05,
    detScore: 0.91,
    embedding: embeddingExample(),
    crop: { format: 'jpeg', data: JPEG_BASE64, width: 112, height: 112 },
  };
}
