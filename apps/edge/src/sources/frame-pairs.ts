import type { RgbImage } from '@edgeloop/vision';

/**
 * More frames than this on one side with none on the other: the two outputs no longer belong together. ffmpeg
 * writes each frame to both pipes before the next, blocking on a full pipe, so in order they are at most a
 * frame or two apart.
 */
const MAX_UNPAIRED = 8;

/**
 * Joins ffmpeg's two outputs of each frame (see ffmpegArgs): the frame at its delivery size and the same frame
 * at the detector's size, read from two pipes in whichever order they arrive. Both outputs come from one
 * `split` and drop the same frames, so the n-th of one is the n-th of the other; the frame is handed on with
 * the small one as its `detectorImage`.
 */
export class FramePairs {
  private readonly frames: RgbImage[] = [];
  private readonly detectorImages: RgbImage[] = [];

  constructor(private readonly onFrame: (image: RgbImage) => void) {}

  frame(image: RgbImage): void {
    this.frames.push(image);
    this.flush();
  }

  detectorImage(image: RgbImage): void {
    this.detectorImages.push(image);
    this.flush();
  }

  private flush(): void {
    while (this.frames.length > 0 && this.detectorImages.length > 0) {
      const image = this.frames.shift()!;
      image.detectorImage = this.detectorImages.shift()!;
      this.onFrame(image);
    }
    const apart = Math.max(this.frames.length, this.detectorImages.length);
    if (apart > MAX_UNPAIRED) throw new Error(`ffmpeg's frame and detector outputs are ${apart} frames apart`);
  }
}
