export type ImageFormat = 'jpeg' | 'png';

const JPEG_SIGNATURE = Buffer.from([0xff, 0xd8, 0xff]);
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * The format the first bytes announce (JPEG: FF D8 FF, PNG: the 8-byte signature), or undefined.
 * A cheap check at the source so that bytes which are no image never displace a real frame from the
 * one-slot mailbox; a truncated or corrupt body past the signature is still caught by the decoder.
 */
export function sniffImageFormat(bytes: Buffer): ImageFormat | undefined {
  if (bytes.length >= JPEG_SIGNATURE.length && bytes.subarray(0, JPEG_SIGNATURE.length).equals(JPEG_SIGNATURE)) return 'jpeg';
  if (bytes.length >= PNG_SIGNATURE.length && bytes.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE)) return 'png';
  return undefined;
}

/** The image format of a Content-Type value (`image/jpeg`, `image/png`, parameters ignored), or undefined. */
export function imageFormatOfMediaType(contentType: string | undefined): ImageFormat | undefined {
  const essence = contentType?.split(';', 1)[0]?.trim().toLowerCase();
  if (essence === 'image/jpeg') return 'jpeg';
  if (essence === 'image/png') return 'png';
  return undefined;
}
