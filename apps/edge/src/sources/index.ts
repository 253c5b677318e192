import { randomBytes } from 'node:crypto';
import { Logger } from '../logger';
import type { BackoffOptions } from './backoff';
import { FfmpegSource } from './ffmpeg.source';
import { FolderSource } from './folder.source';
import type { FrameSource } from './frame-source';
import { HttpPushSource } from './http-push.source';
import { MjpegSource } from './mjpeg.source';
import type { SourceSpec } from './source-spec';

export { defaultReconnect, type BackoffOptions } from './backoff';
export { FfmpegSource } from './ffmpeg.source';
export { FolderSource } from './folder.source';
export { FrameSource, type Frame, type FrameImage, type FrameSourceStats } from './frame-source';
export { HttpPushSource, type HttpPushRequestStats } from './http-push.source';
export { MjpegSource, MjpegStreamError } from './mjpeg.source';
export { DEFAULT_PUSH_HOST, SOURCE_SPEC_SYNTAX, SourceSpecError, parseSourceSpec, redactUrl, type SourceSpec } from './source-spec';

export interface CreateSourceOptions {
  /** Folder playback rate and ffmpeg output rate. */
  fps: number;
  /** Folders and video files start again at the end. */
  loop: boolean;
  /** The frame-rate limit every source applies before the mailbox; defaults to `fps`. */
  maxFps?: number;
  /** Largest frame accepted from an MJPEG stream or a push request (bytes). */
  maxFrameBytes?: number;
  /** Bearer token the push endpoint requires; when unset, one is generated for the run and logged. */
  pushToken?: string;
  /** Reconnect delays for MJPEG streams and live ffmpeg inputs. */
  reconnect?: BackoffOptions;
  /** A live input that sends nothing for this long is reconnected (ms). */
  stallTimeoutMs?: number;
  ffmpegPath?: string;
}

export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024;
export const DEFAULT_STALL_TIMEOUT_MS = 10_000;

/** The frame source for a parsed spec (see parseSourceSpec), not yet started. */
export function createSource(spec: SourceSpec, options: CreateSourceOptions): FrameSource {
  const maxFps = options.maxFps ?? options.fps;
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  switch (spec.kind) {
    case 'folder':
      return new FolderSource(spec.path, { fps: options.fps, loop: options.loop, maxFps });
    case 'ffmpeg':
      return new FfmpegSource(spec.input, {
        fps: Math.min(options.fps, maxFps),
        loop: options.loop,
        live: spec.live ?? isLiveInput(spec.input),
        format: spec.format ?? (spec.input.startsWith('/dev/video') ? 'v4l2' : undefined),
        maxFps,
        reconnect: options.reconnect,
        stallTimeoutMs,
        ffmpegPath: options.ffmpegPath,
      });
    case 'mjpeg':
      return new MjpegSource(spec.url, { maxFps, maxFrameBytes, reconnect: options.reconnect, stallTimeoutMs });
    case 'http-push':
      return new HttpPushSource({ host: spec.host, port: spec.port, maxFps, maxFrameBytes, token: options.pushToken ?? generatedPushToken() });
  }
}

/** The push endpoint is never open: with no configured token, a random one for this run, printed once. */
function generatedPushToken(): string {
  const token = `push_${randomBytes(24).toString('base64url')}`;
  new Logger(HttpPushSource.name).warn(
    `EDGE_SOURCE_PUSH_TOKEN is not set: POST /frames needs "Authorization: Bearer ${token}" (generated for this run; set EDGE_SOURCE_PUSH_TOKEN to keep one)`,
  );
  return token;
}

/** For specs built without parseSourceSpec: network URLs and devices are live, paths are files. */
function isLiveInput(input: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(input) || input.startsWith('/dev/');
}
