import { MAX_FACES_PER_FRAME, type FrameResult } from '@edgeloop/contracts';
import type { FrameResult as PipelineResult } from '@edgeloop/vision';

/** A pipeline result as it goes on the wire: finite numbers, rounded to what the cloud can use. */
export function toFrameResult(ts: number, result: PipelineResult): FrameResult {
  const { stats, timings } = result;
  return {
    ts,
    faces: result.faces.slice(0, MAX_FACES_PER_FRAME).map((face) => ({
      identity: face.identity,
      score: face.identityScore === null ? null : round(face.identityScore, 4),
      margin: face.margin === null ? null : Math.max(0, round(face.margin, 4)),
      detScore: Math.min(1, Math.max(0, round(face.score, 4))),
      box: { x: round(face.box.x, 1), y: round(face.box.y, 1), width: Math.max(0, round(face.box.width, 1)), height: Math.max(0, round(face.box.height, 1)) },
    })),
    stats: {
      brightness: Math.min(255, Math.max(0, round(stats.brightness, 2))),
      contrast: Math.max(0, round(stats.contrast, 2)),
      sharpness: Math.max(0, round(stats.sharpness, 2)),
      ...(stats.width > 0 ? { width: stats.width } : {}),
      ...(stats.height > 0 ? { height: stats.height } : {}),
    },
    timings: {
      decode: ms(timings.decodeMs),
      detect: ms(timings.detectMs),
      align: ms(timings.alignMs),
      embed: ms(timings.embedMs),
      head: ms(timings.headMs),
      total: ms(timings.totalMs),
    },
  };
}

export function round(value: number, digits: number): number {
  if (!Number.isFinite(value)) return 0;
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function ms(value: number): number {
  return Math.max(0, round(value, 2));
}
