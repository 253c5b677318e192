import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import { QUEUES } from '@edgeloop/contracts';
import type { Queue } from 'bullmq';
import { CloudConfig } from '../config/cloud.config';
import { SqlDatabase } from '../database/sql-database';

const RETENTION_SCHEDULER = 'retention-sweep';
const EMBEDDED_SQL_SCHEDULER = 'embedded-sql-vacuum';

/**
 * The `maintenance` queue's schedule, kept on every replica: a job scheduler runs `maintenance.retention`
 * every EDGELOOP_RETENTION_SWEEP_SECONDS, one run at a time across replicas (BullMQ hands each scheduled job
 * to one worker; `MaintenanceProcessor` runs them one at a time) — and, on the embedded SQL store (PGlite), a
 * `maintenance.sql-vacuum` every EDGELOOP_PGLITE_VACUUM_SECONDS (SqlDatabase.maintainEmbedded).
 */
@Injectable()
export class MaintenanceQueue implements OnApplicationBootstrap {
  constructor(
    private readonly config: CloudConfig,
    private readonly db: SqlDatabase,
    @InjectQueue(QUEUES.maintenance) private readonly queue: Queue,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.queue.upsertJobScheduler(
      RETENTION_SCHEDULER,
      { every: this.config.quotas.retentionSweepSeconds * 1000 },
      { name: 'maintenance.retention', data: {}, opts: { removeOnComplete: 50, removeOnFail: 50 } },
    );
    const vacuumSeconds = this.db.kind === 'pglite' ? this.config.pgliteVacuumSeconds : 0;
    if (vacuumSeconds === 0) {
      // a PostgreSQL server vacuums by itself; a scheduler left from an embedded run with the same Redis goes
      await this.queue.removeJobScheduler(EMBEDDED_SQL_SCHEDULER);
      return;
    }
    await this.queue.upsertJobScheduler(
      EMBEDDED_SQL_SCHEDULER,
      { every: vacuumSeconds * 1000 },
      { name: 'maintenance.sql-vacuum', data: {}, opts: { removeOnComplete: 50, removeOnFail: 50 } },
    );
  }
}
