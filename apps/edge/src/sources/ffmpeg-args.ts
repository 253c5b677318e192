export interface FfmpegInputOptions {
  fps: number;
  loop: boolean;
  live?: boolean;
  format?: 'v4l2';
  durationSeconds?: number;
}

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
 * The ffmpeg command line for one input: JPEG frames on stdout (fd 1), progress reports on fd 3.
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
  args.push('-f', 'image2pipe', '-c:v', 'mjpeg', '-q:v', '3');
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
