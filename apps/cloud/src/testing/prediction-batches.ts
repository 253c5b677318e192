import { MESSAGE_VERSION, type FrameResult, type PredictionBatch } from '@edgeloop/contracts';
import { seededRandom } from '@edgeloop/harness';

/** The seed source of the generated traffic, for tests that draw their own numbers beside it. */
export { seededRandom };

export interface TrafficProfile {
  /** Mean frame brightness (0–255): a lighting change lowers it. */
  brightness: number;
  /** Laplacian variance: blur lowers it. */
  sharpness: number;
  /** Share of faces that are not enrolled (their score is low and identity null). */
  unknownShare: number;
}

export const STABLE: TrafficProfile = { brightness: 130, sharpness: 400, unknownShare: 0.05 };
export const DARK_BLURRED_STRANGERS: TrafficProfile = { brightness: 45, sharpness: 25, unknownShare: 0.6 };

/** A realistic prediction batch of `frames` frames with one face each, ending at `end`. */
export function makeBatch(
  deviceId: string,
  seq: number,
  model: { name: string; version: number },
  profile: TrafficProfile,
  options: { frames?: number; end?: number; random?: () => number } = {},
): PredictionBatch {
  const random = options.random ?? seededRandom(seq * 7919 + deviceId.length);
  const frames = options.frames ?? 10;
  const end = options.end ?? Date.now();
  const start = end - frames * 100;
  const items: FrameResult[] = Array.from({ length: frames }, (_, i) => {
    const stranger = random() < profile.unknownShare;
    const score = stranger ? 0.1 + random() * 0.25 : 0.7 + random() * 0.25;
    return {
      ts: start + i * 100,
      faces: [{ identity: stranger ? null : 'franck', score, margin: stranger ? random() * 0.1 : 0.5 + random() * 0.3, detScore: 0.95 + random() * 0.04 }],
      stats: {
        brightness: Math.min(255, Math.max(0, profile.brightness + (random() - 0.5) * 20)),
        contrast: 40 + random() * 10,
        sharpness: profile.sharpness * (0.8 + random() * 0.4),
      },
      timings: { detect: 5 + random() * 3, align: 1, embed: 14 + random() * 6, head: 0.2, total: 22 + random() * 8 },
    };
  });
  return { v: MESSAGE_VERSION, deviceId, seq, model, window: { start, end }, items, dropped: { skipped: 0, failed: 0 } };
}
