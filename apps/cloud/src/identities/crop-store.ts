import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { BlobRepository } from '../repositories/blob.repository';

/** Aligned enrolment crops are small PNGs; hard-example crops are bounded by the wire format. */
const MAX_CROP_BYTES = 1024 * 1024;

/** Aligned enrolment crops in S3, content-addressed: `enrolment/crops/sha256/<hex>.png`. */
export function enrolmentCropKey(sha256: string): string {
  return `enrolment/crops/sha256/${sha256}.png`;
}

/** Face crops in S3: enrolment crops by their sha256, hard-example crops by their stored key. */
@Injectable()
export class CropStore {
  constructor(private readonly blobs: BlobRepository) {}

  /** Stores an aligned crop under its sha256 (once: the same bytes are the same object) and returns the hash. */
  async putEnrolmentCrop(png: Uint8Array): Promise<string> {
    const sha256 = createHash('sha256').update(png).digest('hex');
    const key = enrolmentCropKey(sha256);
    if ((await this.blobs.size(key)) !== png.byteLength) await this.blobs.putStream(key, Readable.from([Buffer.from(png)]), png.byteLength);
    return sha256;
  }

  async enrolmentCrop(sha256: string): Promise<Buffer | undefined> {
    return this.blobs.getSmall(enrolmentCropKey(sha256), MAX_CROP_BYTES);
  }

  async removeEnrolmentCrop(sha256: string): Promise<void> {
    await this.blobs.remove(enrolmentCropKey(sha256));
  }

  async byKey(key: string): Promise<Buffer | undefined> {
    return this.blobs.getSmall(key, MAX_CROP_BYTES);
  }
}
