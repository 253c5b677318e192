import { readFile } from 'node:fs/promises';
import sharp, { type Sharp } from 'sharp';
import { InvalidImageError } from './errors';

/**
 * The most pixels (width × height) read from bytes nobody vouches for: camera frames, pushed frames, face
 * crops, enrolment photos. 4096 × 4096 ≈ 16.8 megapixels fits a 4K frame and a 12-megapixel photo, and
 * decodes to ≈ 50 MB of RGB; a decompression bomb (a 750 KB PNG of 16000 × 16000, ≈ 770 MB decoded) does not.
 */
export const MAX_INPUT_PIXELS = 4096 * 4096;

export interface ImageLimits {
  /** Largest width × height accepted; default MAX_INPUT_PIXELS. */
  maxPixels?: number;
}

/** Format and size of an image, read from its header only. */
export interface ImageHeader {
  format: string;
  width: number;
  height: number;
}

/**
 * A sharp pipeline over untrusted bytes (or decoded RGB): libvips checks the header's dimensions against `maxPixels` before
 * it allocates anything and refuses larger images ("Input image exceeds pixel limit"), and corrupt data is
 * an error rather than a warning. Every sharp read of bytes that came from outside goes through this.
 */
export function openImage(bytes: Buffer | Uint8Array | RgbImage, limits: ImageLimits = {}): Sharp {
  const limitInputPixels = limits.maxPixels ?? MAX_INPUT_PIXELS;
  if (bytes instanceof Uint8Array) return sharp(bytes, { failOn: 'error', limitInputPixels });
  // Decoded RGB (a frame from ffmpeg): the same pixel limit, read as raw pixels.
  return sharp(bytes.data, { limitInputPixels, raw: { width: bytes.width, height: bytes.height, channels: 3 } });
}

/**
 * Reads only the header (no pixel data is decoded) and refuses an image over `maxPixels` with
 * `IMAGE_TOO_LARGE`, or bytes whose header does not parse with `IMAGE_UNDECODABLE`. Cheap enough to run on
 * every frame at the point where untrusted bytes enter, before they are queued for decoding.
 */
export async function readImageHeader(bytes: Buffer | Uint8Array, limits: ImageLimits = {}): Promise<ImageHeader> {
  const maxPixels = limits.maxPixels ?? MAX_INPUT_PIXELS;
  let header: { format?: string; width?: number; height?: number };
  try {
    // No pixel limit here: the header is read either way, and the check below names the dimensions.
    header = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new InvalidImageError('IMAGE_UNDECODABLE', `cannot read the image header: ${(err as Error).message}`, { cause: err });
  }
  const { format, width, height } = header;
  if (!format || !width || !height) throw new InvalidImageError('IMAGE_UNDECODABLE', 'the image header has no format or dimensions');
  if (width * height > maxPixels) {
    throw new InvalidImageError('IMAGE_TOO_LARGE', `the image is ${width}×${height} (${width * height} pixels), over the limit of ${maxPixels} pixels`);
  }
  return { format, width, height };
}

/** A decoded frame: interleaved 8-bit RGB, row-major, no padding. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
  /**
   * The same frame already resized (fill, no letterbox) to the detector's 320 × 240 input by whoever made it
   * (the edge's ffmpeg source has ffmpeg scale it, in its own process): the pipeline feeds it to the detector
   * as it is instead of resizing the frame on its own thread. Used only when it is exactly 320 × 240.
   */
  detectorImage?: RgbImage;
}

/** An image given as encoded bytes (JPEG, PNG, WebP, …) or as a file path. */
export type ImageInput = Buffer | Uint8Array | string;

/**
 * Decodes to RGB (EXIF orientation applied, alpha dropped, grey expanded to three channels).
 * A missing file or undecodable bytes become an `InvalidImageError`, never an unhandled crash; an image
 * over `limits.maxPixels` (default MAX_INPUT_PIXELS) is refused from its header (`IMAGE_TOO_LARGE`) before
 * any pixel is decoded.
 */
export async function decodeImage(input: ImageInput, limits: ImageLimits = {}): Promise<RgbImage> {
  let bytes: Uint8Array;
  if (typeof input === 'string') {
    try {
      bytes = await readFile(input);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new InvalidImageError(
        'IMAGE_NOT_FOUND',
        code === 'ENOENT' ? `no such file: ${input}` : `cannot read ${input}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  } else {
    bytes = input;
  }
  if (bytes.byteLength === 0) throw new InvalidImageError('IMAGE_UNDECODABLE', 'empty image');
  try {
    const { data, info } = await openImage(bytes, limits)
      .autoOrient()
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) {
      throw new Error(`decoded to ${info.channels} channels, expected 3`);
    }
    return { data, width: info.width, height: info.height };
  } catch (err) {
    if (PIXEL_LIMIT_ERROR.test((err as Error).message)) {
      const maxPixels = limits.maxPixels ?? MAX_INPUT_PIXELS;
      throw new InvalidImageError('IMAGE_TOO_LARGE', `the image is over the limit of ${maxPixels} pixels; not decoded`, { cause: err });
    }
    throw new InvalidImageError('IMAGE_UNDECODABLE', `cannot decode image: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** What sharp says when the header is over `limitInputPixels`. */
const PIXEL_LIMIT_ERROR = /exceeds pixel limit/i;

/** A frame from `decodeAhead`: the decoded image, or why it could not be decoded. */
export type DecodedFrame<T> = { input: T; image: RgbImage; error?: undefined } | { input: T; image?: undefined; error: InvalidImageError };

/**
 * Decodes a stream of frames one ahead: while the caller runs the models on frame n, frame n+1 is
 * decoded on sharp's thread pool, so on a multi-core device the decode is hidden behind inference.
 * Undecodable frames come out with `error` instead of ending the stream.
 */
export async function* decodeAhead<T extends ImageInput>(
  inputs: Iterable<T> | AsyncIterable<T>,
): AsyncGenerator<DecodedFrame<T>> {
  const settle = (input: T): Promise<DecodedFrame<T>> =>
    decodeImage(input).then(
      (image) => ({ input, image }),
      (err: unknown) => {
        if (err instanceof InvalidImageError) return { input, error: err };
        throw err;
      },
    );
  let pending: Promise<DecodedFrame<T>> | null = null;
  for await (const input of inputs) {
    const next = settle(input);
    next.catch(() => undefined); // rejections surface when awaited below, never as unhandled
    if (pending) yield await pending;
    pending = next;
  }
  if (pending) yield await pending;
}
