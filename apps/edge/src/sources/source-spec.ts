import { isAbsolute, resolve } from 'node:path';

/** Where frames come from, parsed from one string (the `EDGE_SOURCE` variable). */
export type SourceSpec =
  | { kind: 'folder'; path: string }
  /** `live` inputs (RTSP, V4L2, `ffmpeg:` URLs) reconnect with back-off when ffmpeg exits; files end or loop. */
  | { kind: 'ffmpeg'; input: string; live?: boolean; format?: 'v4l2' }
  | { kind: 'mjpeg'; url: string }
  | { kind: 'http-push'; host: string; port: number };

export const SOURCE_SPEC_SYNTAX =
  'folder:DIR, file:VIDEO, rtsp://…, rtsps://…, v4l2:/dev/videoN, ffmpeg:URL, mjpeg:http(s)://…, http(s)://… (MJPEG), ' +
  'http-push:PORT or http-push:HOST:PORT';

export class SourceSpecError extends Error {
  readonly code = 'invalid_source_spec';
  constructor(message: string) {
    super(message);
    this.name = 'SourceSpecError';
  }
}

/** The push endpoint's default address: loopback, so an exposed port is always a deliberate choice. */
export const DEFAULT_PUSH_HOST = '127.0.0.1';

/**
 * Parses a source spec. Relative folder and file paths are resolved against the working directory.
 * Throws SourceSpecError with the accepted syntax when the spec is not one of them.
 */
export function parseSourceSpec(spec: string): SourceSpec {
  const text = spec.trim();
  const [, scheme = '', rest = ''] = /^([a-z0-9-]+):(.*)$/i.exec(text) ?? [];
  switch (scheme.toLowerCase()) {
    case 'folder':
      return { kind: 'folder', path: resolve(required(rest, 'folder:DIR needs a directory')) };
    case 'file':
      return { kind: 'ffmpeg', input: resolve(required(rest, 'file:VIDEO needs a video file')), live: false };
    case 'v4l2': {
      const device = required(rest, 'v4l2:/dev/videoN needs a device');
      if (!isAbsolute(device) || !device.startsWith('/dev/')) throw new SourceSpecError(`v4l2: expects a device under /dev/, got "${device}"`);
      return { kind: 'ffmpeg', input: device, live: true, format: 'v4l2' };
    }
    case 'rtsp':
    case 'rtsps':
      return { kind: 'ffmpeg', input: url(text, ['rtsp:', 'rtsps:']).href, live: true };
    case 'ffmpeg':
      return { kind: 'ffmpeg', input: url(required(rest, 'ffmpeg:URL needs an input URL'), undefined).href, live: true };
    case 'mjpeg':
      return { kind: 'mjpeg', url: url(required(rest, 'mjpeg:URL needs an http(s) URL'), ['http:', 'https:']).href };
    case 'http':
    case 'https':
      return { kind: 'mjpeg', url: url(text, ['http:', 'https:']).href };
    case 'http-push':
      return { kind: 'http-push', ...pushAddress(rest) };
    default:
      throw new SourceSpecError(`unknown frame source "${spec}": expected ${SOURCE_SPEC_SYNTAX}`);
  }
}

/** A URL or spec with any password replaced, for names and log lines. */
export function redactUrl(input: string): string {
  try {
    const parsed = new URL(input);
    if (!parsed.password) return input;
    parsed.password = '***';
    return parsed.href;
  } catch {
    return input;
  }
}

function required(value: string, message: string): string {
  if (value.trim() === '') throw new SourceSpecError(message);
  return value.trim();
}

function url(text: string, protocols: string[] | undefined): URL {
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw new SourceSpecError(`"${redactUrl(text)}" is not a valid URL`);
  }
  if (protocols && !protocols.includes(parsed.protocol)) {
    throw new SourceSpecError(`"${redactUrl(text)}" must use ${protocols.map((p) => p.slice(0, -1)).join(' or ')}`);
  }
  return parsed;
}

function pushAddress(rest: string): { host: string; port: number } {
  const match = /^(?:(\[[0-9a-f:.]+\]|[^:[\]]+):)?(\d+)$/i.exec(rest.trim());
  if (!match) throw new SourceSpecError(`http-push expects PORT, HOST:PORT or [IPv6]:PORT, got "${rest}"`);
  const port = Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new SourceSpecError(`http-push port must be 1–65535, got ${match[2]}`);
  const host = match[1] ? match[1].replace(/^\[(.*)\]$/, '$1') : DEFAULT_PUSH_HOST;
  return { host, port };
}
