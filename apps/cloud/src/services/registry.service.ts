import { Injectable } from '@nestjs/common';
import { AliasSchema, describeZodError, ModelNameSchema, SHA256_PATTERN } from '@edgeloop/contracts';
import type { Readable } from 'node:stream';
import { SqlDatabase } from '../database/sql-database';
import { BadRequestError, NotFoundError } from '../errors/domain.errors';
import { AuditRepository } from '../repositories/audit.repository';
import { DomainEvents } from '../events/domain-events';
import { blobKey, BlobRepository } from '../repositories/blob.repository';
import { ModelRepository, ModelSummary, VersionRecord } from '../repositories/model.repository';

/** Registry reads, aliases and blob downloads. */
@Injectable()
export class RegistryService {
  constructor(
    private readonly db: SqlDatabase,
    private readonly models: ModelRepository,
    private readonly blobs: BlobRepository,
    private readonly audit: AuditRepository,
    private readonly events: DomainEvents,
  ) {}

  listModels(): Promise<ModelSummary[]> {
    return this.models.listModels();
  }

  /** Every version with the aliases that point at it, as `ModelVersionResponseSchema` answers one. */
  async listVersions(name: string): Promise<(VersionRecord & { aliases: string[] })[]> {
    await this.requireModel(name);
    const [versions, aliases] = await Promise.all([this.models.listVersions(name), this.models.listAliases(name)]);
    return versions.map((record) => ({
      ...record,
      aliases: Object.entries(aliases)
        .filter(([, v]) => v === record.version)
        .map(([a]) => a),
    }));
  }

  /** A version by number (`7`), alias (`production`) or `latest`. */
  async getVersion(name: string, ref: string): Promise<VersionRecord & { aliases: string[] }> {
    await this.requireModel(name);
    const version = await this.resolve(name, ref);
    const record = await this.models.getVersion(name, version);
    if (!record) throw new NotFoundError(`version ${name}@${ref}`);
    const aliases = Object.entries(await this.models.listAliases(name))
      .filter(([, v]) => v === version)
      .map(([a]) => a);
    return { ...record, aliases };
  }

  async resolve(name: string, ref: string): Promise<number> {
    if (/^[0-9]+$/.test(ref)) {
      const version = Number(ref);
      if (!Number.isSafeInteger(version) || version < 1) throw new BadRequestError('invalid_version', `"${ref}" is not a version number`);
      return version;
    }
    if (ref === 'latest') {
      const latest = (await this.models.listVersions(name)).at(-1);
      if (!latest) throw new NotFoundError(`a version of ${name}`);
      return latest.version;
    }
    const alias = this.checkAlias(ref);
    const version = await this.models.resolveAlias(name, alias);
    if (version === undefined) throw new NotFoundError(`alias ${name}@${alias}`);
    return version;
  }

  async listAliases(name: string): Promise<Record<string, number>> {
    await this.requireModel(name);
    return this.models.listAliases(name);
  }

  async setAlias(name: string, alias: string, version: number, actor: string | null): Promise<void> {
    this.checkAlias(alias);
    await this.requireModel(name);
    if (!(await this.models.getVersion(name, version))) throw new NotFoundError(`version ${name}@${version}`);
    await this.db.transaction(async (tx) => {
      await this.models.setAlias(tx, name, alias, version);
      await this.audit.record({ actor, action: 'model.alias.set', subject: `${name}@${alias}`, details: { version } }, tx);
    });
    await this.events.emit('model.alias.changed', { modelName: name, alias, version });
  }

  async deleteAlias(name: string, alias: string, actor: string | null): Promise<void> {
    this.checkAlias(alias);
    await this.requireModel(name);
    await this.db.transaction(async (tx) => {
      if (!(await this.models.deleteAlias(tx, name, alias))) throw new NotFoundError(`alias ${name}@${alias}`);
      await this.audit.record({ actor, action: 'model.alias.delete', subject: `${name}@${alias}` }, tx);
    });
  }

  /** Size of a registered blob, for Range arithmetic; 404 for a blob no version references. */
  async blobSize(sha256: string): Promise<number> {
    if (!SHA256_PATTERN.test(sha256)) throw new BadRequestError('invalid_sha256', 'a blob is addressed by 64 lowercase hex characters');
    const size = await this.models.blobSize(sha256);
    if (size === undefined) throw new NotFoundError(`blob ${sha256}`);
    return size;
  }

  readBlob(sha256: string, start: number, end: number): Promise<Readable> {
    return this.blobs.getRange(blobKey(sha256), start, end);
  }

  private async requireModel(name: string): Promise<void> {
    const parsed = ModelNameSchema.safeParse(name);
    if (!parsed.success) throw new BadRequestError('invalid_model_name', describeZodError(parsed.error));
    if (!(await this.models.modelExists(name))) throw new NotFoundError(`model ${name}`);
  }

  private checkAlias(alias: string): string {
    const parsed = AliasSchema.safeParse(alias);
    if (!parsed.success) throw new BadRequestError('invalid_alias', describeZodError(parsed.error));
    return parsed.data;
  }
}
