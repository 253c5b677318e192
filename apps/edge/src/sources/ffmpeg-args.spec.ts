import { ffmpegArgs, FfmpegProgress } from './ffmpeg-args';

describe('ffmpegArgs', () => {
  it('paces a file at its natural speed and loops it inside ffmpeg', () => {
    const args = ffmpegArgs('/v/a.mp4', { fps: 5, loop: true });
    expect(args.join(' ')).toContain('-re -stream_loop -1 -i /v/a.mp4');
    expect(args.join(' ')).toContain('-fps_mode vfr -r 5');
    expect(args.at(-1)).toBe('pipe:1');
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
    expect(old).toContain('-vsync vfr -r 5');
    expect(old).not.toContain('-fps_mode');
    expect(old).not.toContain('-stats_period');
    expect(old).toContain('-progress pipe:3 pipe:1');
    expect(ffmpegArgs('/v/a.mp4', { fps: 5, loop: false }).join(' ')).toContain('-progress pipe:3 -stats_period 1 pipe:1');
  });

  it('writes rgb24 frames as PPM, scaled down (never up) inside ffmpeg to fit the box, aspect kept', () => {
    const args = ffmpegArgs('/v/a.mp4', { fps: 5, loop: false });
    expect(args.join(' ')).toContain("-vf scale=w='min(640,iw)':h='min(480,ih)':force_original_aspect_ratio=decrease:flags=area");
    expect(args.join(' ')).toContain('-f image2pipe -c:v ppm -pix_fmt rgb24');
    expect(args).not.toContain('mjpeg');
    expect(ffmpegArgs('/v/a.mp4', { fps: 5, loop: false, fit: { width: 320, height: 240 } }).join(' ')).toContain("scale=w='min(320,iw)':h='min(240,ih)'");
  });

  it('limits the input time when asked', () => {
    expect(ffmpegArgs('/v/a.mp4', { fps: 5, loop: false, durationSeconds: 2 }).join(' ')).toContain('-t 2');
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
});
