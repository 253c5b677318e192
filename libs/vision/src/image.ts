import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { InvalidImageError } from './errors';

/** A decoded frame: interleaved 8-bit RGB, row-major, no padding. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** An image given as encoded bytes (JPEG, PNG, WebP, …) or as a file path. */
export type ImageInput = Buffer | Uint8Array | string;

/**
 * Decodes to RGB (EXIF orientation applied, alpha dropped, grey expanded to three channels).
 * A missing file or undecodable bytes become an `InvalidImageError`, never an unhandled crash.
 */
export async function decodeImage(input: ImageInput): Promise<RgbImage> {
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
    const { data, info } = await sharp(bytes, { failOn: 'error' })
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
    throw new InvalidImageError('IMAGE_UNDECODABLE', `cannot decode image: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

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
