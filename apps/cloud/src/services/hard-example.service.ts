import { Injectable, Logger } from '@nestjs/common';
import type { HardExample, HardExampleLabel } from '@edgeloop/contracts';
import { Readable } from 'node:stream';
import { NotFoundError } from '../errors/domain.errors';
import { AuditRepository } from '../repositories/audit.repository';
import { BlobRepository } from '../repositories/blob.repository';
import { HardExampleFilter, hardExampleId, HardExampleRecord, HardExampleRepository } from '../repositories/hard-example.repository';

/** Hard examples from devices: stored once, listed with filters, labelled for retraining. */
@Injectable()
export class HardExampleService {
  private readonly logger = new Logger(HardExampleService.name);

  constructor(
    private readonly examples: HardExampleRepository,
    private readonly blobs: BlobRepository,
    private readonly audit: AuditRepository,
  ) {}

  /** The crop (only present when the device's privacy policy lets crops leave it) goes to S3 first. */
  async store(example: HardExample, receivedAt: Date): Promise<boolean> {
    let cropKey: string | null = null;
    if (example.crop) {
      cropKey = `hard-examples/${hardExampleId(example.deviceId, example.id)}.jpg`;
      const bytes = Buffer.from(example.crop.data, 'base64');
      await this.blobs.putStream(cropKey, Readable.from([bytes]), bytes.length);
    }
    const stored = await this.examples.insert(example, cropKey, receivedAt);
    if (!stored && cropKey) this.logger.debug(`hard example ${example.deviceId}/${example.id} was already stored`);
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

  async crop(id: string): Promise<{ stream: Readable; size: number }> {
    const example = await this.examples.get(id);
    if (!example?.cropKey) throw new NotFoundError(`a crop of hard example ${id}`);
    const size = await this.blobs.size(example.cropKey);
    if (size === undefined) throw new NotFoundError(`a crop of hard example ${id}`);
    return { stream: await this.blobs.getRange(example.cropKey, 0, size - 1), size };
  }
}
