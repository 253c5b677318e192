import { ChildProcess, spawn } from 'node:child_process';
import { FrameSource } from './frame-source';
import { JpegStreamSplitter } from './jpeg-stream';

/**
 * Video file, RTSP URL or V4L2 device decoded by an `ffmpeg` child process into a stream of JPEG frames
 * at the configured rate (`-re` paces files at their natural speed). Files loop when asked to.
 */
export class FfmpegSource extends FrameSource {
  readonly name: string;
  private child: ChildProcess | undefined;

  constructor(
    private readonly input: string,
    private readonly options: { fps: number; loop: boolean; ffmpegPath?: string },
  ) {
    super();
    this.name = `ffmpeg:${input}`;
  }

  protected async run(): Promise<void> {
    do {
      await this.playOnce();
    } while (this.options.loop && !this.stopped && !/^(rtsp|rtmp|http|udp):|^\/dev\/video/.test(this.input));
  }

  override stop(): void {
    super.stop();
    this.child?.kill('SIGTERM');
  }

  private playOnce(): Promise<void> {
    const args = ['-hide_banner', '-loglevel', 'error', '-nostdin'];
    if (!/^(rtsp|rtmp|http|udp):|^\/dev\/video/.test(this.input)) args.push('-re');
    if (this.input.startsWith('/dev/video')) args.push('-f', 'v4l2');
    args.push('-i', this.input, '-vf', `fps=${this.options.fps}`, '-f', 'image2pipe', '-c:v', 'mjpeg', '-q:v', '3', 'pipe:1');
    return new Promise((resolve, reject) => {
      const child = spawn(this.options.ffmpegPath ?? 'ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      this.child = child;
      const splitter = new JpegStreamSplitter((jpeg) => this.push(jpeg, this.input));
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => splitter.write(chunk));
      child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
      child.on('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ENOENT' ? new Error('ffmpeg is not installed (apt-get install -y ffmpeg)') : err),
      );
      child.on('close', (code) => {
        this.child = undefined;
        if (code === 0 || this.stopped) resolve();
        else reject(new Error(`ffmpeg exited with code ${code}: ${stderr.trim()}`));
      });
    });
  }
}
