import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { RgbImage } from '@edgeloop/vision';
import { resolveFfmpeg, type FfmpegBinary } from '@edgeloop/binaries';
import { Logger } from '../logger';
import { Backoff, defaultReconnect, type BackoffOptions } from './backoff';
import { FrameSource, type FrameSourceOptions } from './frame-source';
import { DETECTOR_PIPE_FD, ffmpegArgs, FFMPEG_VIDEO_OUTPUTS, FfmpegProgress, type FrameFit } from './ffmpeg-args';
import { FramePairs } from './frame-pairs';
import { PpmStreamSplitter } from './ppm-stream';
import { redactUrl } from './source-spec';

export interface FfmpegSourceOptions extends FrameSourceOptions {
  /** Output rate: ffmpeg drops frames above it (counted in `rateLimited`) and never repeats one. */
  fps: number;
  /** Files only: play again from the start at the end. */
  loop: boolean;
  /** Network and device inputs: ffmpeg exiting means the input dropped, so it is started again. */
  live?: boolean;
  /** Input format, when ffmpeg cannot tell from the input (`v4l2` for /dev/videoN). */
  format?: 'v4l2';
  /** `EDGE_FFMPEG_PATH`: wins over `ffmpeg` on the PATH, which wins over the npm package's binary. */
  ffmpegPath?: string;
  reconnect?: BackoffOptions;
  /** Live inputs: no frame for this long means the input hangs; ffmpeg is killed and started again. */
  stallTimeoutMs?: number;
  /** Live inputs: the allowance for the first frame, which includes ffmpeg probing the input (default: stall + 5 s). */
  startTimeoutMs?: number;
  /** Stop after this much input time (ffmpeg `-t`). */
  durationSeconds?: number;
  /** Larger frames are scaled down by ffmpeg to fit this box (default FRAME_FIT, 640 × 480). */
  fit?: FrameFit;
}

/** ffmpeg's default `-analyzeduration`: how long it may read a live input before the first frame comes out. */
const PROBE_ALLOWANCE_MS = 5000;

class FfmpegExit extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'FfmpegExit';
  }
}

/**
 * A video file, RTSP URL, V4L2 device or any other ffmpeg input, decoded by an `ffmpeg` child process
 * into RGB frames (scaled down to fit `fit`) at no more than `fps`, each with its copy at the detector's
 * 320 × 240 (`detectorImage`, resized by ffmpeg): the pipeline takes them as they are, with no JPEG encode
 * in ffmpeg and decode in the worker, and no resize for the detector on the worker's thread. Files are paced at their natural speed (`-re`) and loop when
 * asked to; a file that fails to decode ends the source. Live inputs are started again with back-off
 * whenever ffmpeg exits or stops producing frames.
 */
export class FfmpegSource extends FrameSource<RgbImage> {
  readonly name: string;
  private readonly logger = new Logger(FfmpegSource.name);
  private readonly backoff: Backoff;
  private ffmpeg?: FfmpegBinary;

  constructor(
    private readonly input: string,
    private readonly options: FfmpegSourceOptions,
  ) {
    super(options);
    this.name = `ffmpeg:${redactUrl(input)}`;
    this.backoff = new Backoff(options.reconnect ?? defaultReconnect);
  }

  protected async run(): Promise<void> {
    try {
      this.ffmpeg = resolveFfmpeg({ explicit: this.options.ffmpegPath });
    } catch (err) {
      throw new FfmpegExit((err as Error).message, true);
    }
    this.logger.debug(`${this.name}: ffmpeg ${this.ffmpeg.path} (${this.ffmpeg.origin})`);
    if (!this.options.live) {
      await this.play();
      return;
    }
    for (let attempt = 0; !this.stopped; attempt++) {
      if (attempt > 0) this.stats.reconnects++;
      const framesBefore = this.stats.produced;
      try {
        await this.play();
        if (this.stopped || this.options.durationSeconds) return;
        this.logger.warn(`${this.name}: the input ended`);
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof FfmpegExit && err.permanent) throw err;
        this.logger.warn(`${this.name}: ${(err as Error).message}`);
      }
      if (this.stats.produced > framesBefore) this.backoff.reset();
      const delay = this.backoff.next();
      this.logger.info(`${this.name}: restarting ffmpeg in ${delay} ms`);
      await this.sleep(delay);
    }
  }

  /** One ffmpeg run: resolves when it exits cleanly (or is stopped), rejects otherwise. */
  private play(): Promise<void> {
    const ffmpeg = this.ffmpeg!;
    const args = ffmpegArgs(this.input, this.options, ffmpeg);
    return new Promise((resolve, reject) => {
      const child = spawn(ffmpeg.path, args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] });
      const [stdout, stderrPipe, progressPipe, detectorPipe] = [child.stdio[1], child.stdio[2], child.stdio[3], child.stdio[DETECTOR_PIPE_FD]] as Readable[];
      const pairs = new FramePairs((image) => this.push(image, this.name));
      const splitter = new PpmStreamSplitter((image) => pairs.frame(image));
      const detectorSplitter = new PpmStreamSplitter((image) => pairs.detectorImage(image));
      const progress = new FfmpegProgress((dropped) => this.countRateLimited(dropped), FFMPEG_VIDEO_OUTPUTS);
      let stderr = '';
      let failure: FfmpegExit | undefined;
      let stallTimer: NodeJS.Timeout | undefined;
      let started = false;
      const { live, stallTimeoutMs } = this.options;
      const startTimeoutMs = this.options.startTimeoutMs ?? (stallTimeoutMs ?? 0) + PROBE_ALLOWANCE_MS;
      const watchStall = () => {
        if (!live || !stallTimeoutMs) return;
        clearTimeout(stallTimer);
        const timeout = started ? stallTimeoutMs : startTimeoutMs;
        stallTimer = setTimeout(() => {
          failure = new FfmpegExit(started ? `no frame for ${timeout} ms` : `no first frame within ${timeout} ms`, false);
          kill();
        }, timeout);
      };
      let killTimer: NodeJS.Timeout | undefined;
      const kill = () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        killTimer ??= setTimeout(() => child.kill('SIGKILL'), 3000);
      };
      const onAbort = () => kill();
      this.signal.addEventListener('abort', onAbort, { once: true });
      watchStall();
      const readFrames = (pipe: Readable, splitter: PpmStreamSplitter, what: string, onChunk?: () => void) =>
        pipe.on('data', (chunk: Buffer) => {
          onChunk?.();
          try {
            splitter.write(chunk);
          } catch (err) {
            failure = new FfmpegExit(`ffmpeg wrote something other than ${what}: ${(err as Error).message}`, true);
            kill();
          }
        });
      readFrames(stdout, splitter, 'frames', () => {
        started = true;
        watchStall();
      });
      readFrames(detectorPipe, detectorSplitter, 'detector frames');
      stderrPipe.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
      progressPipe.on('data', (chunk: Buffer) => progress.write(chunk));
      child.on('error', (err: NodeJS.ErrnoException) => {
        failure =
          err.code === 'ENOENT'
            ? new FfmpegExit(`ffmpeg not found at ${ffmpeg.path} (EDGE_FFMPEG_PATH); unset it to use the ffmpeg on the PATH or from npm`, true)
            : new FfmpegExit(`ffmpeg could not start: ${err.message}`, true);
      });
      child.on('close', (code, signal) => {
        clearTimeout(stallTimer);
        clearTimeout(killTimer);
        this.signal.removeEventListener('abort', onAbort);
        if (this.stopped) return resolve();
        if (failure) return reject(failure);
        if (code === 0) return resolve();
        const reason = stderr.trim().split('\n').slice(-3).join(' | ') || `signal ${signal ?? 'none'}`;
        // A file that does not decode will not decode next time either; a live input may come back.
        reject(new FfmpegExit(`ffmpeg exited with code ${code}: ${reason}`, !this.options.live));
      });
    });
  }
}
