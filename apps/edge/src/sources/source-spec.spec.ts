import { resolve } from 'node:path';
import { parseSourceSpec, redactUrl, SourceSpecError } from './source-spec';

describe('parseSourceSpec', () => {
  it.each([
    ['folder:samples/faces', { kind: 'folder', path: resolve('samples/faces') }],
    ['file:/videos/door.mp4', { kind: 'ffmpeg', input: '/videos/door.mp4', live: false }],
    ['file:clip.mp4', { kind: 'ffmpeg', input: resolve('clip.mp4'), live: false }],
    ['rtsp://cam.local:8554/stream1', { kind: 'ffmpeg', input: 'rtsp://cam.local:8554/stream1', live: true }],
    ['rtsps://user:pw@cam.local/s', { kind: 'ffmpeg', input: 'rtsps://user:pw@cam.local/s', live: true }],
    ['v4l2:/dev/video0', { kind: 'ffmpeg', input: '/dev/video0', live: true, format: 'v4l2' }],
    ['ffmpeg:srt://10.0.0.5:9000', { kind: 'ffmpeg', input: 'srt://10.0.0.5:9000', live: true }],
    ['mjpeg:http://cam.local/video.cgi', { kind: 'mjpeg', url: 'http://cam.local/video.cgi' }],
    ['http://cam.local:8081/?action=stream', { kind: 'mjpeg', url: 'http://cam.local:8081/?action=stream' }],
    ['https://cam.local/mjpg', { kind: 'mjpeg', url: 'https://cam.local/mjpg' }],
    ['http-push:18080', { kind: 'http-push', host: '127.0.0.1', port: 18080 }],
    ['http-push:0.0.0.0:18080', { kind: 'http-push', host: '0.0.0.0', port: 18080 }],
    ['http-push:[::1]:18080', { kind: 'http-push', host: '::1', port: 18080 }],
    ['  folder:x  ', { kind: 'folder', path: resolve('x') }],
  ])('%s', (spec, expected) => {
    expect(parseSourceSpec(spec)).toEqual(expected);
  });

  it.each([
    ['', /unknown frame source/],
    ['camera', /unknown frame source/],
    ['folder:', /needs a directory/],
    ['v4l2:video0', /under \/dev\//],
    ['mjpeg:ftp://cam/x', /must use http or https/],
    ['mjpeg:not a url', /not a valid URL/],
    ['http-push:', /PORT, HOST:PORT/],
    ['http-push:host:port', /PORT, HOST:PORT/],
    ['http-push:70000', /1–65535/],
    ['http-push:0', /1–65535/],
  ])('refuses %j', (spec, message) => {
    expect(() => parseSourceSpec(spec)).toThrow(SourceSpecError);
    expect(() => parseSourceSpec(spec)).toThrow(message);
  });

  it('lists the accepted syntax when the kind is unknown', () => {
    expect(() => parseSourceSpec('webcam0')).toThrow(/folder:DIR, file:VIDEO, .*http-push:PORT or http-push:HOST:PORT/);
  });

  it('never echoes a password in an error', () => {
    expect(() => parseSourceSpec('mjpeg:ftp://admin:secret@cam/x')).toThrow(/admin:\*\*\*@cam/);
  });
});

describe('redactUrl', () => {
  it('hides the password and leaves other inputs alone', () => {
    expect(redactUrl('rtsp://admin:hunter2@cam:554/s')).toBe('rtsp://admin:***@cam:554/s');
    expect(redactUrl('http://cam/video')).toBe('http://cam/video');
    expect(redactUrl('/videos/a.mp4')).toBe('/videos/a.mp4');
  });
});
