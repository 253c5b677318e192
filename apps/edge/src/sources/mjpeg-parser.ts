import { Dicer } from '@fastify/busboy';
import { Writable } from 'node:stream';
import { sniffImageFormat } from './image-format';

export interface MjpegParserOptions {
  /** The `boundary` parameter of the response's Content-Type. */
  boundary: string;
  /** A part larger than this is dropped (and reported) without being buffered further. */
  maxFrameBytes: number;
  onFrame: (jpeg: Buffer) => void;
  onRejected: (reason: string) => void;
}

/** How far into the body the first delimiter is looked for before the declared boundary is taken as is. */
const BOUNDARY_PROBE_BYTES = 4096;

/**
 * Splits a `multipart/x-mixed-replace` body (an MJPEG camera stream) into JPEG frames, one per part.
 *
 * Delimiters and part headers are parsed by Dicer (the multipart parser maintained in @fastify/busboy).
 * On top of it:
 * - a part with a `Content-Length` header is handed out as soon as that many bytes arrived — cameras that
 *   send the delimiter *before* each frame would otherwise hold every frame back until the next one starts;
 * - the common camera quirk of declaring `boundary=--abc` while delimiting with `--abc` is detected from
 *   the first delimiter in the body;
 * - parts over `maxFrameBytes` or that do not start like a JPEG are dropped and reported, not buffered.
 */
export class MjpegParser extends Writable {
  private dicer: Dicer | undefined;
  private probe: Buffer[] = [];
  private probeBytes = 0;
  private ending = false;

  constructor(private readonly options: MjpegParserOptions) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.dicer) {
      this.dicer.write(chunk, callback);
      return;
    }
    this.probe.push(chunk);
    this.probeBytes += chunk.length;
    const head = Buffer.concat(this.probe, this.probeBytes);
    const at = head.indexOf(this.options.boundary, 0, 'latin1');
    if (at < 0 && this.probeBytes < BOUNDARY_PROBE_BYTES) {
      callback();
      return;
    }
    this.probe = [];
    this.dicer = this.createDicer(effectiveBoundary(this.options.boundary, head, at));
    this.dicer.write(head, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.ending = true;
    if (!this.dicer && this.probeBytes > 0) {
      this.dicer = this.createDicer(this.options.boundary);
      this.dicer.write(Buffer.concat(this.probe, this.probeBytes));
    }
    this.dicer?.end();
    callback();
  }

  private createDicer(boundary: string): Dicer {
    const dicer = new Dicer({ boundary });
    dicer.on('part', (part) => this.readPart(part));
    // The body ending without a closing delimiter is how a dropped stream looks: the source handles that.
    dicer.on('error', (err) => {
      if (!this.ending) this.destroy(err);
    });
    return dicer;
  }

  private readPart(part: Dicer.PartStream): void {
    const { maxFrameBytes, onFrame, onRejected } = this.options;
    let declared: number | undefined;
    let chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (image: Buffer | undefined, reason?: string) => {
      settled = true;
      chunks = [];
      if (!image) {
        onRejected(reason ?? 'empty part');
        return;
      }
      if (sniffImageFormat(image) !== 'jpeg') onRejected('part is not a JPEG image');
      else onFrame(image);
    };
    part.on('header', (header: Record<string, string[] | undefined>) => {
      const value = header['content-length']?.[0]?.trim();
      declared = value && /^\d+$/.test(value) ? Number(value) : undefined;
      if (declared !== undefined && declared > maxFrameBytes) settle(undefined, `part of ${declared} bytes is over the ${maxFrameBytes}-byte limit`);
    });
    part.on('data', (data: Buffer) => {
      if (settled) return;
      size += data.length;
      if (size > maxFrameBytes) return settle(undefined, `part is over the ${maxFrameBytes}-byte limit`);
      chunks.push(data);
      if (declared !== undefined && size >= declared) settle(Buffer.concat(chunks, size).subarray(0, declared));
    });
    part.on('end', () => {
      if (!settled && size > 0) settle(Buffer.concat(chunks, size));
    });
    // A part cut off by the end of the body: the connection dropped, which the source reports.
    part.on('error', () => undefined);
  }
}

/** The boundary the body really uses, given where the declared one first occurs in it. */
function effectiveBoundary(declared: string, head: Buffer, at: number): string {
  if (at < 0) return declared;
  const precededByDashes = at >= 2 && head[at - 1] === 0x2d && head[at - 2] === 0x2d;
  if (!precededByDashes && declared.startsWith('--')) return declared.slice(2);
  return declared;
}
