import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { ModelFileRole } from '@edgeloop/contracts';
import { Transform, type Readable } from 'node:stream';
import { InvalidArtifactError } from '../errors/domain.errors';
import { BlobRepository, TEMP_UPLOAD_PREFIX, tempUploadKey } from '../repositories/blob.repository';
import { BlobVerificationRepository } from '../repositories/blob-verification.repository';

/** Temporary upload objects older than this are left over from a crashed process and swept at boot. */
const STALE_TEMP_MS = 6 * 3600_000;

/** A file part that went to S3 while it was received, under a temporary key, with what its manifest declared. */
export interface StagedBlob {
  tempKey: string;
  sha256: string;
  size: number;
}

/**
 * Where an upload's bytes wait in S3 before they earn their content address, and which stored blobs an upload
 * may count on. An upload claims every blob it relies on (under its upload id), so that no failing upload
 * removes it between the check and the registration; a stored blob counts as present only when its hash was
 * recorded as verified — what S3 holds under the name, or its size, is not evidence. Temporary objects and
 * claims are released when the upload ends, and those a crashed process left behind are swept at boot.
 */
@Injectable()
export class UploadStaging implements OnApplicationBootstrap {
  private readonly logger = new Logger(UploadStaging.name);

  constructor(
    private readonly blobs: BlobRepository,
    private readonly verifications: BlobVerificationRepository,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    try {
      const stale = await this.blobs.keysOlderThan(TEMP_UPLOAD_PREFIX, new Date(Date.now() - STALE_TEMP_MS));
      for (const key of stale) await this.blobs.remove(key);
      const claims = await this.verifications.dropStaleClaims();
      if (stale.length + claims > 0) this.logger.log(`swept ${stale.length} stale temporary upload(s) and ${claims} stale blob claim(s)`);
    } catch (err) {
      this.logger.warn(`could not sweep stale temporary uploads: ${(err as Error).message}`);
    }
  }

  /** Claims the blob for the upload, then answers whether a verified copy of it is stored. */
  async verifiedPresent(blob: { sha256: string; size: number }, uploadId: string): Promise<boolean> {
    await this.verifications.claim(uploadId, blob.sha256);
    return (await this.verifications.verifiedSize(blob.sha256)) === blob.size;
  }

  /** A new temporary key for a part whose declared blob is not stored yet. */
  newStagedBlob(declared: { sha256: string; size: number }): StagedBlob {
    return { tempKey: tempUploadKey(), sha256: declared.sha256, size: declared.size };
  }

  /** Streams a file part to S3 under its temporary key; refuses more or fewer bytes than declared. */
  async put(staged: StagedBlob, role: ModelFileRole, body: Readable): Promise<void> {
    let seen = 0;
    const guard = new Transform({
      transform(chunk: Buffer, _enc, done) {
        seen += chunk.length;
        if (seen > staged.size) done(new InvalidArtifactError(`the ${role} file is larger than the ${staged.size} bytes its manifest declares`));
        else done(null, chunk);
      },
      flush(done) {
        if (seen < staged.size) done(new InvalidArtifactError(`the ${role} file is smaller than the ${staged.size} bytes its manifest declares`));
        else done();
      },
    });
    body.on('error', (err) => guard.destroy(err));
    await this.blobs.putStream(staged.tempKey, body.pipe(guard), staged.size);
  }

  /** Removes the temporary objects, whatever the outcome. */
  async removeTemporary(tempKeys: string[]): Promise<void> {
    for (const key of tempKeys) {
      await this.blobs.remove(key).catch((err: Error) => this.logger.warn(`could not remove temporary upload ${key}: ${err.message}`));
    }
  }

  /** Drops every claim of the upload. */
  async releaseClaims(uploadId: string): Promise<void> {
    await this.verifications.release(uploadId).catch((err: Error) => this.logger.warn(`could not release blob claims: ${err.message}`));
  }
}
