import type { RgbImage } from '@edgeloop/vision';

/** The largest frame accepted from ffmpeg (pixels): the pipeline's own limit on decoded images. */
const MAX_PIXELS = 4096 * 4096;

/**
 * Splits ffmpeg's `-c:v ppm -f image2pipe` output into RGB frames. Each frame is a binary PPM: the text
 * header `P6 <width> <height> 255` (whitespace-separated, as ffmpeg writes it: `P6\n640 480\n255\n`) and
 * then width × height × 3 bytes of rgb24 — the same bytes as `-f rawvideo -pix_fmt rgb24`, with the size on
 * the wire, so a camera that changes resolution mid-stream cannot shear the frames after it. Pixel bytes
 * are copied once, straight into the frame's own buffer.
 */
export class PpmStreamSplitter {
  private header = '';
  private frame: { data: Buffer; width: number; height: number } | undefined;
  private filled = 0;

  constructor(private readonly onFrame: (image: RgbImage) => void) {}

  write(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (!this.frame) {
        offset = this.readHeader(chunk, offset);
        continue;
      }
      const take = Math.min(chunk.length - offset, this.frame.data.length - this.filled);
      chunk.copy(this.frame.data, this.filled, offset, offset + take);
      this.filled += take;
      offset += take;
      if (this.filled === this.frame.data.length) {
        const { data, width, height } = this.frame;
        this.frame = undefined;
        this.filled = 0;
        this.onFrame({ data, width, height });
      }
    }
  }

  /** Consumes header bytes from `offset`; returns where the pixels (or the rest of the header) start. */
  private readHeader(chunk: Buffer, offset: number): number {
    // The header is at most a few dozen ASCII bytes; read it byte by byte until its fourth field ends.
    for (let i = offset; i < chunk.length; i++) {
      const c = chunk[i];
      this.header += String.fromCharCode(c);
      const start = this.header.trimStart();
      if (this.header.length > 64 || (start.length >= 2 && !start.startsWith('P6'))) {
        throw new Error(`not an 8-bit RGB PPM frame header: ${JSON.stringify(this.header.slice(0, 32))}`);
      }
      const isSpace = c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
      if (!isSpace) continue;
      const fields = this.header.trim().split(/\s+/);
      if (fields.length < 4) continue;
      const [magic, w, h, max] = fields;
      const width = Number(w);
      const height = Number(h);
      if (magic !== 'P6' || max !== '255' || !Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
        throw new Error(`not an 8-bit RGB PPM frame header: ${JSON.stringify(this.header)}`);
      }
      if (width * height > MAX_PIXELS) throw new Error(`a ${width}×${height} frame is over the limit of ${MAX_PIXELS} pixels`);
      this.header = '';
      this.frame = { data: Buffer.allocUnsafe(width * height * 3), width, height };
      this.filled = 0;
      return i + 1;
    }
    return chunk.length;
  }
}
