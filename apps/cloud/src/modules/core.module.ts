import { DynamicModule, Global, Inject, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { sqlDatabaseProvider } from '../app/infrastructure';
import { CloudConfig } from '../config/cloud.config';
import { HealthController } from '../controllers/health.controller';
import { KeysController } from '../controllers/keys.controller';
import { TokensController } from '../controllers/tokens.controller';
import { SqlDatabase } from '../database/sql-database';
import { AuditRepository } from '../repositories/audit.repository';
import { BlobRepository } from '../repositories/blob.repository';
import { DeadLetterRepository } from '../repositories/dead-letter.repository';
import { DeviceRepository } from '../repositories/device.repository';
import { ManifestSigner } from '../repositories/manifest-signer';
import { SettingsRepository } from '../repositories/settings.repository';
import { TokenRepository } from '../repositories/token.repository';
import { HealthService } from '../services/health.service';
import { SqlHealthCheck } from '../services/health-sql-check';
import { TokenService } from '../services/token.service';

const CORE_PROVIDERS = [
  SettingsRepository,
  AuditRepository,
  BlobRepository,
  ManifestSigner,
  HealthService,
  TokenRepository,
  TokenService,
  DeviceRepository,
  DeadLetterRepository,
];

/**
 * What every feature runs on, visible to every module: the validated configuration, SQL (migrated before
 * anything uses it), S3 blobs (the bucket made at init), manifest signing, health, audit, API tokens, the
 * device table (tokens and the broker's authentication read it) and dead letters. Routes: health, the
 * public key, tokens. Closes SQL last.
 */
@Global()
@Module({})
export class CoreModule implements OnModuleInit, OnApplicationShutdown {
  constructor(
    @Inject(CloudConfig) private readonly config: CloudConfig,
    private readonly db: SqlDatabase,
    private readonly blobs: BlobRepository,
    private readonly health: HealthService,
  ) {}

  static forRoot(config: CloudConfig): DynamicModule {
    return {
      module: CoreModule,
      controllers: [HealthController, KeysController, TokensController],
      providers: [{ provide: CloudConfig, useValue: config }, sqlDatabaseProvider, ...CORE_PROVIDERS],
      exports: [CloudConfig, SqlDatabase, ...CORE_PROVIDERS],
    };
  }

  async onModuleInit(): Promise<void> {
    await this.blobs.ensureBucket(this.config.s3?.region ?? 'us-east-1');
    const sql = new SqlHealthCheck(this.db, this.config.databaseUrl);
    this.health.register('sql', sql.check, () => sql.close());
    this.health.register('s3', () => this.blobs.ping());
  }

  async onApplicationShutdown(): Promise<void> {
    await this.db.close();
  }
}
