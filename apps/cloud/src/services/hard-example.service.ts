import { Injectable, Logger } from '@nestjs/common';
import { MAX_CROP_SIDE, type FaceCrop, type HardExample, type HardExampleLabel } from '@edgeloop/contracts';
import { openImage } from '@edgeloop/vision';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { SqlDatabase } from '../database/sql-database';
import { NotFoundError } from '../errors/domain.errors';
import { AuditRepository } from '../repositories/audit.repository';
import { BlobRepository, cropKey } from '../repositories/blob.repository';
import { HardExampleFilter, HardExampleRecord, HardExampleRepository } from '../repositories/hard-example.repository';

/** Crops are at most MAX_CROP_SIDE on a side; nothing bigger is decoded. */
const MAX_CROP_PIXELS = MAX_CROP_SIDE * MAX_CROP_SIDE;
/** A crop is at most 65,536 base64 characters (48 KiB); a stored object past this was not written here. */
const MAX_CROP_BYTES = 64 * 1024;

/** A crop that is not the JPEG it claims to be (an ingest error, never an HTTP answer): the hard example is dead-lettered. */
export class InvalidCropError extends Error {
  readonly code = 'invalid_crop';
}

/** Hard examples from devices: stored once, listed with filters, labelled for retraining. */
@Injectable()
export class HardExampleService {
  private readonly logger = new Logger(HardExampleService.name);

  constructor(
    private readonly db: SqlDatabase,
    private readonly examples: HardExampleRepository,
    private readonly blobs: BlobRepository,
    private readonly audit: AuditRepository,
  ) {}

  /**
   * Stores an example once per (device, example id). The crop (only present when the device's privacy
   * policy lets crops leave it) is decoded first and must be a JPEG of its declared size; it is stored under
   * the sha256 of its bytes, and written only when this call inserted the example — in the insert's
   * transaction, so a failed write leaves no row pointing at nothing. A re-sent example (same id, any crop)
   * replaces nothing. Throws InvalidCropError for a crop that is not what it claims.
   */
  async store(example: HardExample, receivedAt: Date): Promise<boolean> {
    const crop = example.crop ? await checkCrop(example.crop) : undefined;
    const key = crop ? cropKey(crop.sha256) : null;
    const stored = await this.db.transaction(async (tx) => {
      if (!(await this.examples.insert(example, key, receivedAt, tx))) return false;
      if (crop && key) await this.blobs.putStream(key, Readable.from([crop.bytes]), crop.bytes.length);
      return true;
    });
    if (!stored) this.logger.debug(`hard example ${example.deviceId}/${example.id} was already stored`);
    return stored;
  }

  list(filter: HardExampleFilter): Promise<HardExampleRecord[]> {
    return this.examples.list(filter);
  }

  async label(id: string, label: HardExampleLabel, actor: string | null): Promise<HardExampleRecord> {
    if (!(await this.examples.label(id, label, actor))) throw new NotFoundError(`hard example ${id}`);
    await this.audit.record({ actor, action: 'hard-example.label', subject: id, details: label });
    return (await this.examples.get(id))!;
  }

  /**
   * The crop's bytes and their content type. Bytes stored before crops were checked are checked here, so that
   * nothing but a decodable JPEG is ever served as one.
   */
  async crop(id: string): Promise<{ bytes: Buffer; contentType: 'image/jpeg' }> {
    const example = await this.examples.get(id);
    if (!example?.cropKey) throw new NotFoundError(`a crop of hard example ${id}`);
    let bytes: Buffer | undefined;
    try {
      bytes = await this.blobs.getSmall(example.cropKey, MAX_CROP_BYTES);
    } catch (err) {
      this.logger.warn(`the crop of hard example ${id} is not served: ${(err as Error).message}`);
    }
    if (!bytes) throw new NotFoundError(`a crop of hard example ${id}`);
    try {
      await checkJpeg(bytes);
    } catch (err) {
      this.logger.warn(`the crop of hard example ${id} is not served: ${(err as Error).message}`);
      throw new NotFoundError(`a valid crop of hard example ${id}`);
    }
    return { bytes, contentType: 'image/jpeg' };
  }
}

/** Decodes the crop (pixel limit first) and checks it is one complete JPEG of its declared width and height. */
async function checkCrop(crop: FaceCrop): Promise<{ bytes: Buffer; sha256: string }> {
  const bytes = Buffer.from(crop.data, 'base64');
  const { width, height } = await checkJpeg(bytes);
  if (width !== crop.width || height !== crop.height) {
    throw new InvalidCropError(`the crop is ${width}×${height}, it declares ${crop.width}×${crop.height}`);
  }
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

async function checkJpeg(bytes: Buffer): Promise<{ width: number; height: number }> {
  // start and end of image markers: no bytes before the image and none after it (a trailing payload
  // would be served along with the picture)
  const n = bytes.length;
  if (n < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8 || bytes[n - 2] !== 0xff || bytes[n - 1] !== 0xd9) {
    throw new InvalidCropError('the crop is not one complete JPEG (it must start with FFD8 and end with FFD9)');
  }
  try {
    const image = openImage(bytes, { maxPixels: MAX_CROP_PIXELS });
    const { format } = await image.metadata();
    if (format !== 'jpeg') throw new Error(`it is ${format ?? 'of no known format'}`);
    const { info } = await image.raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height };
  } catch (err) {
    throw new InvalidCropError(`the crop is not a decodable JPEG of at most ${MAX_CROP_SIDE}×${MAX_CROP_SIDE}: ${(err as Error).message}`);
  }
}
