export interface FfmpegInputOptions {
  fps: number;
  loop: boolean;
  live?: boolean;
  format?: 'v4l2';
  durationSeconds?: number;
  /** Frames larger than this are scaled down inside ffmpeg to fit, keeping their aspect ratio (default FRAME_FIT). */
  fit?: FrameFit;
}

/** The box frames are scaled down to fit in (never up). */
export interface FrameFit {
  width: number;
  height: number;
}

/**
 * What the pipeline needs: the detector sees every frame at 320 × 240, and a face the detector finds there
 * (from ≈ 20 px) gets twice its pixels for the 112 × 112 embedder crop at 640 × 480; a larger frame costs
 * bandwidth on the pipe and time in the detector's resize without helping either model much.
 */
export const FRAME_FIT: FrameFit = { width: 640, height: 480 };

/**
 * Options that changed name between ffmpeg releases. The npm binary (@ffmpeg-installer, ffmpeg 4.1)
 * predates `-fps_mode` (5.1) and `-stats_period` (4.4); `-vsync vfr` is the same thing in its older
 * spelling, and without `-stats_period` progress comes every 0.5 s instead of every second.
 */
export interface FfmpegDialect {
  fpsMode: boolean;
  statsPeriod: boolean;
}

const currentFfmpeg: FfmpegDialect = { fpsMode: true, statsPeriod: true };

/**
 * The ffmpeg command line for one input: rgb24 frames on stdout (fd 1) — scaled down to fit `fit` inside
 * ffmpeg, each as a binary PPM (a 15-byte header with the size, then the raw pixels, see PpmStreamSplitter),
 * so the worker decodes nothing —, progress reports on fd 3.
 *
 * - Files are read at their natural speed (`-re`), like a camera, and `-stream_loop -1` loops them
 *   without restarting the process.
 * - RTSP goes over TCP: interleaved RTP survives lossy links without the smeared frames of lost UDP packets.
 * - `-fps_mode vfr -r FPS` caps the output rate by dropping frames, and unlike the `fps` filter never
 *   repeats a frame when the input is slower than FPS; the drops are reported in `drop_frames=` progress.
 */
export function ffmpegArgs(input: string, options: FfmpegInputOptions, dialect: FfmpegDialect = currentFfmpeg): string[] {
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-nostats'];
  if (!options.live) {
    args.push('-re');
    if (options.loop) args.push('-stream_loop', '-1');
  }
  if (/^rtsps?:/i.test(input)) args.push('-rtsp_transport', 'tcp');
  if (options.format) args.push('-f', options.format);
  args.push('-i', input, '-map', '0:v:0', '-an', '-sn', '-dn');
  if (options.durationSeconds) args.push('-t', String(options.durationSeconds));
  args.push(dialect.fpsMode ? '-fps_mode' : '-vsync', 'vfr', '-r', String(options.fps));
  const fit = options.fit ?? FRAME_FIT;
  // min(): never enlarge; decrease: the larger side fits, the other keeps the aspect ratio; area: a clean shrink.
  args.push('-vf', `scale=w='min(${fit.width},iw)':h='min(${fit.height},ih)':force_original_aspect_ratio=decrease:flags=area`);
  args.push('-f', 'image2pipe', '-c:v', 'ppm', '-pix_fmt', 'rgb24');
  args.push('-progress', 'pipe:3', ...(dialect.statsPeriod ? ['-stats_period', '1'] : []), 'pipe:1');
  return args;
}

/**
 * Reads ffmpeg's `-progress` key=value lines and reports how many more frames it dropped since the
 * last report (`drop_frames` is a running total per process).
 */
export class FfmpegProgress {
  private tail = '';
  private droppedSoFar = 0;

  constructor(private readonly onDropped: (frames: number) => void) {}

  write(chunk: Buffer | string): void {
    const lines = (this.tail + chunk.toString()).split('\n');
    this.tail = lines.pop() ?? '';
    for (const line of lines) {
      const match = /^drop_frames=(\d+)\s*$/.exec(line);
      if (!match) continue;
      const total = Number(match[1]);
      if (total > this.droppedSoFar) this.onDropped(total - this.droppedSoFar);
      this.droppedSoFar = Math.max(this.droppedSoFar, total);
    }
  }
}
