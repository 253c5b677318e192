import { Injectable, Logger } from '@nestjs/common';
import { CloudConfig } from '../config/cloud.config';
import { BlobRepository } from '../repositories/blob.repository';
import { DeadLetterRepository } from '../repositories/dead-letter.repository';
import { RetentionRepository } from './retention.repository';

export interface RetentionReport {
  deadLetters: { aged: number; capped: number };
  hardExamples: { deleted: number; crops: number };
  rawPayloads: number;
}

/** Hard-example chunks one sweep removes at most; the next sweep goes on. */
const MAX_HARD_EXAMPLE_CHUNKS = 20;

/**
 * Bounds what a device can make the cloud keep: dead letters (EDGELOOP_DEAD_LETTER_RETENTION_DAYS and
 * _MAX_ROWS), unlabelled hard examples with their S3 crops (EDGELOOP_HARD_EXAMPLE_RETENTION_DAYS and
 * _MAX_ROWS) and raw prediction payloads (EDGELOOP_RAW_MAX_ROWS; their age limit is applied by the drift
 * sweep with EDGELOOP_RAW_RETENTION_HOURS). Run by the `maintenance.retention` job scheduler.
 */
@Injectable()
export class RetentionService {
  private readonly logger = new Logger(RetentionService.name);

  constructor(
    private readonly config: CloudConfig,
    private readonly deadLetters: DeadLetterRepository,
    private readonly retention: RetentionRepository,
    private readonly blobs: BlobRepository,
  ) {}

  async sweep(now = Date.now()): Promise<RetentionReport> {
    const started = Date.now();
    const settings = this.config.quotas;
    const day = 86_400_000;
    const deadLetters = await this.deadLetters.prune(new Date(now - settings.deadLetters.retentionDays * day), settings.deadLetters.maxRows);
    const hardExamples = { deleted: 0, crops: 0 };
    const before = new Date(now - settings.hardExamples.retentionDays * day);
    for (let chunk = 0; chunk < MAX_HARD_EXAMPLE_CHUNKS; chunk++) {
      const { deleted, orphanCrops } = await this.retention.deleteHardExamples(before, settings.hardExamples.maxRows);
      hardExamples.deleted += deleted;
      // rows first, then their crops: a crop without a row is garbage, a row without its crop would be a broken example
      for (const key of orphanCrops) {
        await this.blobs.remove(key);
        hardExamples.crops++;
      }
      if (deleted === 0) break;
    }
    const rawPayloads = await this.retention.capRawPayloads(this.config.quotas.rawMaxRows);
    const report = { deadLetters, hardExamples, rawPayloads };
    if (deadLetters.aged + deadLetters.capped + hardExamples.deleted + rawPayloads > 0) {
      this.logger.log(`retention sweep in ${Date.now() - started} ms: ${JSON.stringify(report)}`);
    }
    return report;
  }
}
