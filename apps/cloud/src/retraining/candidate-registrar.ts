import { Injectable, Logger } from '@nestjs/common';
import { describeZodError, MANIFEST_SCHEMA, MODEL_FILE_ROLES, ModelManifestSchema, type ModelFileRole, type ModelManifest } from '@edgeloop/contracts';
import { SqlDatabase, type SqlExecutor } from '../database/sql-database';
import { DomainEvents } from '../events/domain-events';
import { AuditRepository } from '../repositories/audit.repository';
import { BlobRepository, manifestKey } from '../repositories/blob.repository';
import { BlobVerificationRepository } from '../repositories/blob-verification.repository';
import { ManifestSigner } from '../repositories/manifest-signer';
import { ModelRepository, type VersionRecord } from '../repositories/model.repository';
import { RetrainingArtifacts } from './retraining-artifacts';

export const CANDIDATE_ALIAS = 'candidate';

export interface CandidateRegistration {
  runId: string;
  base: VersionRecord;
  head: { sha256: string; size: number };
  labels: string[];
  thresholds: { match: number; margin: number };
  metrics: Record<string, number>;
  /** Where the version came from: dataset digest, trainer settings, run id (kept in the signed manifest). */
  lineage: { runId: string; datasetDigest: string; baseVersion: number; trainer: Record<string, unknown>; targetFpir: number };
}

/**
 * Registers a retrained head as a new version of its model, the way an upload registers one
 * (ModelUploadService): the head blob is checked against its content address, the manifest is
 * built and signed, the version inserted through ModelRepository with the next number, the `candidate`
 * alias moved, all in one transaction that also records the run's outcome (`inTransaction`). The version's
 * parent is the base, and every other file is the base's own blob, so a rollout of it ships only the head.
 */
@Injectable()
export class CandidateRegistrar {
  private readonly logger = new Logger(CandidateRegistrar.name);

  constructor(
    private readonly db: SqlDatabase,
    private readonly models: ModelRepository,
    private readonly blobs: BlobRepository,
    private readonly verifications: BlobVerificationRepository,
    private readonly artifacts: RetrainingArtifacts,
    private readonly signer: ManifestSigner,
    private readonly audit: AuditRepository,
    private readonly events: DomainEvents,
  ) {}

  async register(candidate: CandidateRegistration, inTransaction: (tx: SqlExecutor, record: VersionRecord) => Promise<void>): Promise<VersionRecord> {
    const bytes = await this.artifacts.getModelFile(candidate.head.sha256);
    if (bytes.length !== candidate.head.size) throw new Error(`head blob ${candidate.head.sha256} has ${bytes.length} bytes, expected ${candidate.head.size}`);
    // the registry trusts a stored blob only once its hash is recorded as verified (an upload of the same bytes then stores nothing)
    await this.verifications.recordVerified(candidate.head.sha256, candidate.head.size);
    const { base } = candidate;
    const order = (role: string) => MODEL_FILE_ROLES.indexOf(role as ModelFileRole);
    const files = [
      ...base.manifest.files.filter((f) => f.role !== 'head'),
      { role: 'head' as const, sha256: candidate.head.sha256, size: candidate.head.size, format: 'onnx' as const },
    ].sort((a, b) => order(a.role) - order(b.role));
    const createdBy = 'retraining';
    const manifestFor = (version: number): ModelManifest => {
      const parsed = ModelManifestSchema.safeParse({
        schema: MANIFEST_SCHEMA,
        name: base.name,
        version,
        parent: base.version,
        files,
        labels: candidate.labels,
        thresholds: { ...base.manifest.thresholds, match: candidate.thresholds.match, margin: candidate.thresholds.margin },
        metrics: candidate.metrics,
        createdBy,
        createdAt: new Date().toISOString(),
        source: `retraining:${candidate.runId}`,
        lineage: candidate.lineage,
        ...(base.manifest.drift !== undefined ? { drift: base.manifest.drift } : {}),
      });
      if (!parsed.success) throw new Error(`the candidate manifest is invalid: ${describeZodError(parsed.error)}`);
      return parsed.data;
    };
    const record = await this.db.transaction(async (tx) => {
      const slot = await this.models.reserveVersion(tx, base.name);
      const manifest = manifestFor(slot.version);
      const inserted = await this.models.insertVersion(tx, slot, {
        parent: base.version,
        createdBy,
        manifest,
        signature: this.signer.sign(manifest),
        files: files.map((f) => ({ role: f.role, sha256: f.sha256, size: f.size, format: f.format })),
      });
      await this.models.setAlias(tx, base.name, CANDIDATE_ALIAS, inserted.version);
      await this.audit.record(
        {
          actor: null,
          action: 'model.version.create',
          subject: `${base.name}@${inserted.version}`,
          details: { runId: candidate.runId, parent: base.version, head: candidate.head.sha256, alias: CANDIDATE_ALIAS },
        },
        tx,
      );
      await inTransaction(tx, inserted);
      await this.blobs.putJson(manifestKey(base.name, inserted.version), { manifest: inserted.manifest, signature: inserted.signature });
      return inserted;
    });
    await this.events.emit('model.version.created', {
      model: { name: record.name, version: record.version },
      parent: record.parent,
      files: record.manifest.files.map((f) => ({ role: f.role, sha256: f.sha256, size: f.size })),
      createdBy,
    });
    await this.events.emit('model.alias.changed', { modelName: record.name, alias: CANDIDATE_ALIAS, version: record.version });
    this.logger.log(
      `registered ${record.name}@${record.version} (parent ${base.version}, new head ${candidate.head.sha256.slice(0, 12)}) as ${CANDIDATE_ALIAS}`,
    );
    return record;
  }
}
