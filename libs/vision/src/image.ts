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
