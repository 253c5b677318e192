import { ffmpegArgs, FfmpegProgress } from './ffmpeg-args';

describe('ffmpegArgs', () => {
  it('paces a file at its natural speed and loops it inside ffmpeg', () => {
    const args = ffmpegArgs('/v/a.mp4', { fps: 5, loop: true });
    expect(args.join(' ')).toContain('-re -stream_loop -1 -i /v/a.mp4');
    expect(args.join(' ')).toContain('-fps_mode vfr -r 5');
    expect(args.at(-1)).toBe('pipe:4');
  });

  it('reads live inputs as they come: no pacing, no loop; RTSP over TCP; V4L2 by format', () => {
    const rtsp = ffmpegArgs('rtsp://cam/s', { fps: 8, loop: true, live: true }).join(' ');
    expect(rtsp).not.toContain('-re');
    expect(rtsp).not.toContain('-stream_loop');
    expect(rtsp).toContain('-rtsp_transport tcp -i rtsp://cam/s');
    expect(ffmpegArgs('/dev/video0', { fps: 8, loop: false, live: true, format: 'v4l2' }).join(' ')).toContain('-f v4l2 -i /dev/video0');
  });

  it('speaks the older option names to an ffmpeg before 5.1 (the npm binary is 4.1)', () => {
    const old = ffmpegArgs('/v/a.mp4', { fps: 5, loop: false }, { fpsMode: false, statsPeriod: false }).join(' ');
    expect(old).toContain('-vsync vfr -progress pipe:3 -map [frame] -r 5');
    expect(old).not.toContain('-fps_mode');
    expect(old).not.toContain('-stats_period');
    expect(ffmpegArgs('/v/a.mp4', { fps: 5, loop: false }).join(' ')).toContain('-progress pipe:3 -stats_period 1 -map [frame]');
  });

  it('writes each frame twice as rgb24 PPM: scaled down (never up) to fit the box on fd 1, resized to the detector’s 320×240 on fd 4', () => {
    const args = ffmpegArgs('/v/a.mp4', { fps: 5, loop: false });
    const graph = args[args.indexOf('-filter_complex') + 1];
    expect(graph).toBe(
      "[0:v:0]scale=w='min(640,iw)':h='min(480,ih)':force_original_aspect_ratio=decrease:flags=area,split=2[frame][small];" +
        '[small]scale=320:240:flags=area[detector]',
    );
    // The same rate on both outputs: they drop the same frames, so the n-th of one is the n-th of the other.
    expect(args.join(' ')).toContain('-map [frame] -fps_mode vfr -r 5 -f image2pipe -c:v ppm -pix_fmt rgb24 pipe:1');
    expect(args.join(' ')).toContain('-map [detector] -fps_mode vfr -r 5 -f image2pipe -c:v ppm -pix_fmt rgb24 pipe:4');
    expect(args).not.toContain('mjpeg');
    expect(ffmpegArgs('/v/a.mp4', { fps: 5, loop: false, fit: { width: 320, height: 240 } }).join(' ')).toContain("scale=w='min(320,iw)':h='min(240,ih)'");
  });

  it('limits the input time of both outputs when asked', () => {
    const args = ffmpegArgs('/v/a.mp4', { fps: 5, loop: false, durationSeconds: 2 }).join(' ');
    expect(args).toContain('-map [frame] -t 2 ');
    expect(args).toContain('-map [detector] -t 2 ');
  });
});

describe('FfmpegProgress', () => {
  it('reports the growth of the running drop_frames total, across chunk boundaries', () => {
    const reported: number[] = [];
    const progress = new FfmpegProgress((n) => reported.push(n));
    progress.write('frame=3\ndrop_frames=4\nprogress=continue\nframe=8\ndrop_');
    progress.write('frames=13\nprogress=continue\ndrop_frames=13\n');
    progress.write('drop_frames=20\n');
    expect(reported).toEqual([4, 9, 7]);
  });

  it('counts a frame dropped on every output once', () => {
    const reported: number[] = [];
    const progress = new FfmpegProgress((n) => reported.push(n), 2);
    progress.write('drop_frames=8\ndrop_frames=9\ndrop_frames=10\ndrop_frames=14\n');
    expect(reported).toEqual([4, 1, 2]);
  });
});
