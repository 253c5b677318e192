import {
  MAX_CROP_BASE64_CHARS,
  MESSAGE_VERSION,
  type FaceCrop,
  type HardExample,
  type HardExampleReason,
  type ModelVersionRef,
} from '@edgeloop/contracts';
import { openImage, type FrameResult as PipelineResult, type RecognisedFace } from '@edgeloop/vision';
import { randomUUID } from 'node:crypto';
import type { HardExampleSettings } from '../config/edge.config';
import type { FrameImage } from '../sources';
import { round } from './frame-result';
import { TokenBucket } from './token-bucket';

/**
 * Picks faces worth a person's label: unknown faces, recognised faces with a small margin over the
 * runner-up, or with a low score. At most `perMinute` (burst `burst`) leave the device. The embedding
 * always goes; a small JPEG crop of the face only when the privacy setting allows crops to leave.
 */
export class HardExampleSelector {
  private readonly bucket: TokenBucket;

  constructor(
    private readonly deviceId: string,
    private readonly settings: HardExampleSettings,
  ) {
    this.bucket = new TokenBucket(settings.perMinute, settings.burst);
  }

  reasonFor(face: RecognisedFace): HardExampleReason | null {
    if (face.identity === null) return 'unknown';
    if (face.margin !== null && face.margin < this.settings.marginBelow) return 'small_margin';
    if (face.identityScore !== null && face.identityScore < this.settings.scoreBelow) return 'low_score';
    return null;
  }

  async select(image: FrameImage, ts: number, model: ModelVersionRef, result: PipelineResult): Promise<HardExample[]> {
    const examples: HardExample[] = [];
    for (const face of result.faces) {
      const reason = this.reasonFor(face);
      if (!reason || !face.embedding || !this.bucket.take()) continue;
      const example: HardExample = {
        v: MESSAGE_VERSION,
        deviceId: this.deviceId,
        id: randomUUID(),
        ts,
        model: { name: model.name, version: model.version },
        reason,
        candidate: face.candidate,
        score: face.identityScore === null ? null : round(face.identityScore, 4),
        margin: face.margin === null ? null : Math.max(0, round(face.margin, 4)),
        detScore: Math.min(1, Math.max(0, round(face.score, 4))),
        embedding: Array.from(face.embedding, (x) => round(x, 6)),
        stats: {
          brightness: Math.min(255, Math.max(0, round(result.stats.brightness, 2))),
          contrast: Math.max(0, round(result.stats.contrast, 2)),
          sharpness: Math.max(0, round(result.stats.sharpness, 2)),
        },
      };
      if (this.settings.sendCrops) {
        const crop = await this.crop(image, face, result.stats).catch(() => undefined);
        if (crop) example.crop = crop;
      }
      examples.push(example);
    }
    return examples;
  }

  /** The face box grown by a quarter on each side, scaled to fit `cropSize`, as a JPEG small enough for the wire. */
  private async crop(image: FrameImage, face: RecognisedFace, frame: { width: number; height: number }): Promise<FaceCrop | undefined> {
    const grow = 0.25;
    const left = Math.max(0, Math.floor(face.box.x - face.box.width * grow));
    const top = Math.max(0, Math.floor(face.box.y - face.box.height * grow));
    const right = Math.min(frame.width, Math.ceil(face.box.x + face.box.width * (1 + grow)));
    const bottom = Math.min(frame.height, Math.ceil(face.box.y + face.box.height * (1 + grow)));
    if (right - left < 2 || bottom - top < 2) return undefined;
    for (const quality of [80, 60, 40]) {
      // The frame's bytes came from outside: read them under the same pixel limit as the decoder.
      const { data, info } = await openImage(image)
        .autoOrient()
        .extract({ left, top, width: right - left, height: bottom - top })
        .resize({ width: this.settings.cropSize, height: this.settings.cropSize, fit: 'inside', withoutEnlargement: true })
        .jpeg({ quality })
        .toBuffer({ resolveWithObject: true });
      const base64 = data.toString('base64');
      if (base64.length <= MAX_CROP_BASE64_CHARS) return { format: 'jpeg', data: base64, width: info.width, height: info.height };
    }
    return undefined;
  }
}
