import type { FrameResult, PredictionBatch } from '@edgeloop/contracts';
import { EMBEDDING_DIMENSION } from '@edgeloop/contracts';
import { seededNormal, seededRandom } from './random';

/**
 * Synthetic camera traffic for the specs, shaped like an edge worker's batches: a scene with its
 * lighting and focus, the people in view (enrolled or not) and their embeddings.
 */
export interface Scene {
  brightness: { mean: number; sd: number };
  contrast: { mean: number; sd: number };
  /** Laplacian variance: log-normal around `median`. */
  sharpness: { median: number; logSd: number };
  /** Top-1 cosine of the faces. */
  score: { mean: number; sd: number };
  /** Probability of 0, 1 or 2 faces in a frame. */
  facesPerFrame: [number, number, number];
  /** Direction the embeddings cluster around (unit vector). */
  embeddingDirection: number[];
  matchThreshold: number;
}

export function unitVector(seed: number, dimension = EMBEDDING_DIMENSION): number[] {
  const normal = seededNormal(seed);
  return normalize(Array.from({ length: dimension }, normal));
}

export function daylightScene(direction = unitVector(7)): Scene {
  return {
    brightness: { mean: 120, sd: 12 },
    contrast: { mean: 52, sd: 6 },
    sharpness: { median: 150, logSd: 0.3 },
    score: { mean: 0.72, sd: 0.08 },
    facesPerFrame: [0.1, 0.8, 0.1],
    embeddingDirection: direction,
    matchThreshold: 0.45,
  };
}

/** The lighting change of the demo: darker, softer, blurred frames, and strangers in view. */
export function dimBlurredStrangersScene(): Scene {
  return {
    brightness: { mean: 55, sd: 10 },
    contrast: { mean: 24, sd: 5 },
    sharpness: { median: 18, logSd: 0.3 },
    score: { mean: 0.38, sd: 0.1 },
    facesPerFrame: [0.2, 0.7, 0.1],
    embeddingDirection: unitVector(99),
    matchThreshold: 0.45,
  };
}

/** `frames` frames of `scene` at 10 fps from `start`, in batches of `perBatch`. */
export function simulateBatches(
  scene: Scene,
  options: { seed: number; frames: number; start?: number; perBatch?: number; deviceId?: string },
): PredictionBatch[] {
  const uniform = seededRandom(options.seed);
  const normal = seededNormal(options.seed + 1);
  const start = options.start ?? 1_769_860_800_000;
  const perBatch = options.perBatch ?? 50;
  const batches: PredictionBatch[] = [];
  for (let first = 0; first < options.frames; first += perBatch) {
    const items: FrameResult[] = [];
    const embeddingSum = new Array<number>(scene.embeddingDirection.length).fill(0);
    let embeddings = 0;
    for (let i = first; i < Math.min(options.frames, first + perBatch); i++) {
      const r = uniform();
      const faceCount = r < scene.facesPerFrame[0] ? 0 : r < scene.facesPerFrame[0] + scene.facesPerFrame[1] ? 1 : 2;
      const faces = Array.from({ length: faceCount }, () => {
        const score = Math.max(-1, Math.min(1, scene.score.mean + scene.score.sd * normal()));
        // Uniform noise with sd 0.03 per component: as good as normal noise here, and cheaper.
        const embedding = normalize(scene.embeddingDirection.map((x) => x + 0.052 * (uniform() - 0.5) * 2));
        embedding.forEach((x, k) => (embeddingSum[k] += x));
        embeddings += 1;
        return {
          identity: score >= scene.matchThreshold ? 'id-0001' : null,
          score,
          margin: Math.max(0, Math.min(1, score - 0.25 + 0.05 * normal())),
          detScore: 0.9 + 0.09 * uniform(),
        };
      });
      const detect = 15 + 5 * uniform();
      const embed = faceCount * (30 + 10 * uniform());
      items.push({
        ts: start + i * 100,
        faces,
        stats: {
          brightness: clamp(scene.brightness.mean + scene.brightness.sd * normal(), 0, 255),
          contrast: Math.max(0, scene.contrast.mean + scene.contrast.sd * normal()),
          sharpness: scene.sharpness.median * Math.exp(scene.sharpness.logSd * normal()),
        },
        timings: { detect, align: faceCount, embed, head: 0.2 * faceCount, total: detect + embed + 2 },
      });
    }
    batches.push({
      v: 1,
      deviceId: options.deviceId ?? 'cam-01',
      seq: batches.length + 1,
      model: { name: 'face-id', version: 7 },
      window: { start: items[0].ts, end: items[items.length - 1].ts },
      items,
      dropped: { skipped: 0, failed: 0 },
      ...(embeddings > 0 ? { embeddingCentroid: { count: embeddings, mean: embeddingSum.map((x) => x / embeddings) } } : {}),
    });
  }
  return batches;
}

/** Scaled to unit length (a loop: Math.hypot over 512 spread arguments is slow). */
export function normalize(v: number[]): number[] {
  let sumOfSquares = 0;
  for (const x of v) sumOfSquares += x * x;
  const norm = Math.sqrt(sumOfSquares);
  return v.map((x) => x / norm);
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
