/**
 * Splits a byte stream of concatenated JPEG images (ffmpeg's image2pipe, an MJPEG body without
 * boundaries) into whole images by their start (FF D8) and end (FF D9) markers. A marker pair can only
 * appear inside entropy-coded data as FF 00-stuffed bytes, so scanning for FF D9 is safe for baseline JPEG.
 */
export class JpegStreamSplitter {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly onImage: (jpeg: Buffer) => void,
    private readonly maxImageBytes = 16 * 1024 * 1024,
  ) {}

  write(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    let buffer = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
    for (;;) {
      const start = buffer.indexOf(SOI);
      if (start < 0) {
        buffer = buffer.subarray(Math.max(0, buffer.length - 1));
        break;
      }
      const end = buffer.indexOf(EOI, start + 2);
      if (end < 0) {
        buffer = buffer.subarray(start);
        break;
      }
      this.onImage(Buffer.from(buffer.subarray(start, end + 2)));
      buffer = buffer.subarray(end + 2);
    }
    if (buffer.length > this.maxImageBytes) buffer = buffer.subarray(buffer.length - 1);
    this.chunks = buffer.length > 0 ? [buffer] : [];
    this.size = buffer.length;
  }
}

const SOI = Buffer.from([0xff, 0xd8]);
const EOI = Buffer.from([0xff, 0xd9]);
