import { DETECTOR_INPUT_HEIGHT, DETECTOR_INPUT_WIDTH } from '@edgeloop/vision';

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
 * bandwidth on the pipe and time in ffmpeg's scaling without helping either model much.
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

/** The detector's input size: ffmpeg delivers every frame at this size too (see ffmpegArgs). */
export const DETECTOR_FRAME: FrameFit = { width: DETECTOR_INPUT_WIDTH, height: DETECTOR_INPUT_HEIGHT };

/** The file descriptor of the child's pipe that carries the detector-size frames (1 carries the frames). */
export const DETECTOR_PIPE_FD = 4;

/** How many video outputs the command line has: ffmpeg's `drop_frames` counts each drop once per output. */
export const FFMPEG_VIDEO_OUTPUTS = 2;

/**
 * The ffmpeg command line for one input: each frame twice, from one `split` —
 *
 * - on stdout (fd 1), scaled down to fit `fit`: the frame the landmark crop, the alignment warp and
 *   hard-example crops read;
 * - on fd 4, the same frame resized (fill, as the pipeline does) to the detector's 320 × 240: the pipeline
 *   feeds it to the detector as it is, so the resize runs in ffmpeg's process (C/SIMD), not on the worker's
 *   thread —
 *
 * both rgb24 as binary PPM (a 15-byte header with the size, then the raw pixels, see PpmStreamSplitter), so
 * the worker decodes nothing; progress reports on fd 3.
 *
 * - Files are read at their natural speed (`-re`), like a camera, and `-stream_loop -1` loops them
 *   without restarting the process.
 * - RTSP goes over TCP: interleaved RTP survives lossy links without the smeared frames of lost UDP packets.
 * - `-fps_mode vfr -r FPS` caps the output rate by dropping frames, and unlike the `fps` filter never
 *   repeats a frame when the input is slower than FPS; the drops are reported in `drop_frames=` progress.
 *   Both outputs get the same rate on the same timestamps, so they drop the same frames: the n-th frame of
 *   one is the n-th of the other (FramePairs).
 */
export function ffmpegArgs(input: string, options: FfmpegInputOptions, dialect: FfmpegDialect = currentFfmpeg): string[] {
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-nostats'];
  if (!options.live) {
    args.push('-re');
    if (options.loop) args.push('-stream_loop', '-1');
  }
  if (/^rtsps?:/i.test(input)) args.push('-rtsp_transport', 'tcp');
  if (options.format) args.push('-f', options.format);
  args.push('-i', input);
  const fit = options.fit ?? FRAME_FIT;
  // min(): never enlarge; decrease: the larger side fits, the other keeps the aspect ratio; area: a clean shrink.
  // The detector's copy is resized from that frame, as the pipeline would resize it; `area` came closest to the
  // pipeline's own resize on the franck clips (mean luma difference 0.2 of 255, the same faces; bilinear 0.2–0.4).
  const graph = [
    `[0:v:0]scale=w='min(${fit.width},iw)':h='min(${fit.height},ih)':force_original_aspect_ratio=decrease:flags=area,split=2[frame][small]`,
    `[small]scale=${DETECTOR_FRAME.width}:${DETECTOR_FRAME.height}:flags=area[detector]`,
  ];
  args.push('-filter_complex', graph.join(';'));
  // Before 5.1 the rate mode is one global -vsync; from 5.1 -fps_mode is given per output.
  if (!dialect.fpsMode) args.push('-vsync', 'vfr');
  args.push('-progress', 'pipe:3', ...(dialect.statsPeriod ? ['-stats_period', '1'] : []));
  for (const [label, pipe] of [
    ['frame', 'pipe:1'],
    ['detector', `pipe:${DETECTOR_PIPE_FD}`],
  ]) {
    args.push('-map', `[${label}]`);
    if (options.durationSeconds) args.push('-t', String(options.durationSeconds));
    if (dialect.fpsMode) args.push('-fps_mode', 'vfr');
    args.push('-r', String(options.fps), '-f', 'image2pipe', '-c:v', 'ppm', '-pix_fmt', 'rgb24', pipe);
  }
  return args;
}

/**
 * Reads ffmpeg's `-progress` key=value lines and reports how many more frames it dropped since the
 * last report (`drop_frames` is a running total per process, over all its outputs).
 */
export class FfmpegProgress {
  private tail = '';
  private droppedSoFar = 0;

  /** @param outputs video outputs of the command line: ffmpeg counts a dropped frame once in each. */
  constructor(
    private readonly onDropped: (frames: number) => void,
    private readonly outputs = 1,
  ) {}

  write(chunk: Buffer | string): void {
    const lines = (this.tail + chunk.toString()).split('\n');
    this.tail = lines.pop() ?? '';
    for (const line of lines) {
      const match = /^drop_frames=(\d+)\s*$/.exec(line);
      if (!match) continue;
      const total = Math.floor(Number(match[1]) / this.outputs);
      if (total > this.droppedSoFar) this.onDropped(total - this.droppedSoFar);
      this.droppedSoFar = Math.max(this.droppedSoFar, total);
    }
  }
}
