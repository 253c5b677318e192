import { ConfigError, envTypes, parseEnv } from '@edgeloop/config';
import { z } from 'zod';
import { parseAllowList, type WebhookAllowList } from '../webhooks/webhook-allow-list';
import { quotaEnvShape, quotaSettings, type QuotaSettings } from '../quotas/quota-settings';
import { httpTimeoutEnvShape, httpTimeoutProblems, httpTimeoutSettings, type HttpTimeouts } from '../http/http-timeouts';
import { bullmqEnvShape, bullmqProblems, bullmqSettings, type BullmqSettings } from '../queues/bullmq-connection';

export { ConfigError };

const { port, bool } = envTypes;

/**
 * Values shipped in examples or well known as defaults: a cloud on a published port with one of them is
 * open to anyone who read the repository, so boot refuses them.
 */
const PLACEHOLDER_SECRET = /change-?me|^(admin|password|secret|minioadmin|edgeloop|s3cr3t|test|default)$/i;
const SECRET_VARIABLES = ['EDGELOOP_BOOTSTRAP_TOKEN', 'MQTT_PASSWORD', 'S3_SECRET_KEY', 'EDGELOOP_SECRETS_KEY'] as const;

/** The names of the variables in `env` that hold a placeholder secret (DATABASE_URL's password included). */
export function placeholderSecrets(env: Record<string, string | undefined>): string[] {
  const found: string[] = SECRET_VARIABLES.filter((name) => env[name] !== undefined && PLACEHOLDER_SECRET.test(env[name]!));
  if (env.DATABASE_URL) {
    try {
      const password = decodeURIComponent(new URL(env.DATABASE_URL).password);
      if (password && PLACEHOLDER_SECRET.test(password)) found.push('DATABASE_URL (its password)');
    } catch {
      // an unparsable URL is reported by the schema
    }
  }
  return found;
}

/** 32 bytes as 64 hex characters or base64 (44 characters with padding, 43 without). */
const secretsKey = z
  .string()
  .transform((text, ctx) => {
    const bytes = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
    if (bytes.length !== 32 || !/^[0-9a-fA-F]{64}$|^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
      ctx.addIssue({ code: 'custom', message: 'a 32-byte key, as 64 hex characters or base64 (openssl rand -base64 32)' });
      return z.NEVER;
    }
    return bytes;
  });

/** Environment variables the cloud reads: S3 is required (the embedded mode starts an S3-protocol server and passes it); every other one has a default. */
const cloudEnvSchema = z.object({
  EDGELOOP_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  EDGELOOP_HTTP_PORT: port.default(0),
  EDGELOOP_DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z.string().url().startsWith('postgres').optional(),
  REDIS_URL: z.string().url().startsWith('redis').optional(),
  MQTT_URL: z.string().url().optional(),
  MQTT_USERNAME: z.string().optional(),
  MQTT_PASSWORD: z.string().optional(),
  MQTT_ACL: z.enum(['dynsec', 'none']).default('none'),
  MQTT_CLIENT_ID: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, '1-64 of A-Z a-z 0-9 _ -').optional(),
  MQTT_SHARE_GROUP: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, '1-64 of A-Z a-z 0-9 _ -').optional(),
  EDGELOOP_EMBEDDED_BROKER_PORT: port.optional(),
  /** Interface the embedded broker listens on; `0.0.0.0` (or a LAN address) for edges on other hosts. */
  EDGELOOP_EMBEDDED_BROKER_HOST: z.string().min(1).default('127.0.0.1'),
  EDGELOOP_MQTT_PUBLIC_URL: z.string().url().optional(),
  EDGELOOP_PUBLIC_URL: z.string().url().optional(),
  /** The built dashboard (index.html + assets/); default `dist/dashboard` under the project when it exists. */
  EDGELOOP_DASHBOARD_DIR: z.string().min(1).optional(),
  EDGELOOP_AGGREGATE_BUCKET_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  EDGELOOP_RAW_RETENTION_HOURS: z.coerce.number().min(0).max(24 * 365).default(24),
  EDGELOOP_INGEST_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(32),
  EDGELOOP_WORKERS: bool.default(true),
  /** Take prediction batches and hard examples off the broker here; false on API replicas behind a share group. */
  EDGELOOP_PREDICTION_INTAKE: bool.default(true),
  EDGELOOP_DRIFT_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(300),
  EDGELOOP_DRIFT_CONFIRM_WINDOWS: z.coerce.number().int().min(1).max(100).optional(),
  EDGELOOP_DRIFT_REFERENCE_MAX_WINDOWS: z.coerce.number().int().min(1).max(100).default(20),
  EDGELOOP_DRIFT_COOLDOWN_SECONDS: z.coerce.number().int().min(0).max(30 * 86_400).optional(),
  EDGELOOP_DRIFT_LATENESS_SECONDS: z.coerce.number().min(0).max(3600).optional(),
  EDGELOOP_DRIFT_CHECK_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  /** Embedded SQL (PGlite) only: period of the vacuum + checkpoint that its single-user PostgreSQL never runs by itself; 0 = never. */
  EDGELOOP_PGLITE_VACUUM_SECONDS: z.coerce.number().int().min(0).max(86_400).default(60),
  EDGELOOP_ROLLOUT_WAVE_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(7 * 86_400).default(600),
  EDGELOOP_ROLLOUT_TICK_MS: z.coerce.number().int().min(100).max(60_000).default(1000),
  S3_ENDPOINT: z.string().min(1).optional(),
  S3_PORT: port.optional(),
  S3_USE_SSL: bool.default(false),
  S3_ACCESS_KEY: z.string().min(1).optional(),
  S3_SECRET_KEY: z.string().min(1).optional(),
  S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'a valid S3 bucket name').default('edgeloop'),
  S3_REGION: z.string().min(1).default('us-east-1'),
  EDGELOOP_MAX_UPLOAD_BYTES: z.coerce.number().int().positive().default(1024 ** 3),
  EDGELOOP_SQL_DIR: z.string().min(1).optional(),
  EDGELOOP_VALIDATION_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  EDGELOOP_BOOTSTRAP_TOKEN: z.string().min(24).optional(),
  EDGELOOP_SIGNING_KEY: z.string().min(1).optional(),
  EDGELOOP_SECRETS_KEY: secretsKey.optional(),
  EDGELOOP_METRICS_PUBLIC: bool.default(true),
  EDGELOOP_DOCS_PUBLIC: bool.default(true),
  EDGELOOP_LOG_LEVEL: z.enum(['error', 'warn', 'log', 'debug', 'verbose']).default('log'),
  EDGELOOP_WEBHOOK_ALLOW: z
    .string()
    .max(10_000)
    .optional()
    .superRefine((text, ctx) => {
      for (const problem of parseAllowList(text).problems) ctx.addIssue({ code: 'custom', message: problem });
    }),
  EDGELOOP_WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(25).default(8),
  EDGELOOP_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  EDGELOOP_WEBHOOK_BACKOFF_MS: z.coerce.number().int().min(10).max(3_600_000).default(1000),
  ...quotaEnvShape,
  ...httpTimeoutEnvShape,
  ...bullmqEnvShape,
});

export type CloudEnv = z.infer<typeof cloudEnvSchema>;

/** The name of every environment variable the cloud reads (deployment files are checked against it). */
export const cloudEnvNames: readonly string[] = Object.keys(cloudEnvSchema.shape);

/** The cloud's one typed configuration, validated once at boot. Services receive it by injection. */
export class CloudConfig {
  readonly http: { host: string; port: number };
  /** Request, headers and keep-alive timeouts of the HTTP server, and the idle limit of an upload body. */
  readonly httpTimeouts: HttpTimeouts;
  readonly dataDir: string;
  readonly databaseUrl?: string;
  readonly redisUrl?: string;
  /** BullMQ's key prefix and, on Redis Cluster, its seed nodes (`createBullmqConnection` builds the connection). */
  readonly bullmq: BullmqSettings;
  readonly mqtt?: { url: string; username?: string; password?: string; acl: 'dynsec' | 'none' };
  readonly mqttShareGroup?: string;
  /** A fixed MQTT client id gives this replica a persistent session (QoS 1 messages wait for it at the broker). */
  readonly mqttClientId?: string;
  readonly embeddedBrokerPort?: number;
  readonly embeddedBrokerHost: string;
  readonly mqttPublicUrl?: string;
  readonly publicUrl?: string;
  readonly dashboardDir?: string;
  readonly rolloutTickMs: number;
  /** A device that has not reported active (or failed) this long after its desired state counts as failed. */
  readonly rolloutWaveTimeoutSeconds: number;
  readonly aggregateBucketSeconds: number;
  readonly rawRetentionHours: number;
  readonly ingestConcurrency: number;
  /** Run BullMQ workers (ingest, drift, webhooks) in this process; false for API-only replicas. */
  readonly workers: boolean;
  /**
   * Subscribe to the devices' `predictions` and `hard-examples` (check quotas, decode, enqueue, acknowledge) in
   * this process; false on API replicas, so that the devices' traffic goes to the worker replicas of the share
   * group and the API's event loop serves HTTP. `reported` and `status` are taken by every process.
   */
  readonly predictionIntake: boolean;
  readonly driftWindowSeconds: number;
  readonly driftCheckSeconds: number;
  readonly pgliteVacuumSeconds: number;
  /** Most windows a reference grows to while it holds fewer frames than the detectors need. */
  readonly driftReferenceMaxWindows: number;
  /** How long after a window ends its late batches may still arrive; default two buckets. */
  readonly driftLatenessSeconds: number;
  /** Deployment-wide drift alarm options (per-model ones come from the manifest's `drift` field). */
  readonly driftAlarm?: { confirmWindows?: number; cooldownMs?: number };
  readonly s3?: { endPoint: string; port?: number; useSSL: boolean; accessKey: string; secretKey: string; region: string };
  readonly bucket: string;
  readonly maxUploadBytes: number;
  readonly sqlDir: string;
  readonly validationTimeoutMs: number;
  readonly bootstrapToken?: string;
  readonly signingKey?: string;
  /** Encrypts secrets the cloud generates and keeps in SQL (the signing key when EDGELOOP_SIGNING_KEY is unset). */
  readonly secretsKey?: Buffer;
  /** Who may read `/metrics` and `/api/docs` (+ `/api/docs-json`): anyone (`true`), or a viewer token. */
  readonly publicEndpoints: { metrics: boolean; docs: boolean };
  readonly logLevel: CloudEnv['EDGELOOP_LOG_LEVEL'];
  /** Outgoing webhook deliveries: SSRF allow-list, attempts, per-attempt timeout, base of the exponential back-off. */
  readonly webhooks: { allowList: WebhookAllowList; maxAttempts: number; timeoutMs: number; backoffMs: number };
  /** Per-device quotas, quarantine, dead-letter sampling and the retention of what devices send (docs/quotas.md). */
  readonly quotas: QuotaSettings;

  constructor(env: CloudEnv) {
    this.http = { host: env.EDGELOOP_HTTP_HOST, port: env.EDGELOOP_HTTP_PORT };
    this.httpTimeouts = httpTimeoutSettings(env);
    this.dataDir = env.EDGELOOP_DATA_DIR;
    this.databaseUrl = env.DATABASE_URL;
    this.redisUrl = env.REDIS_URL;
    this.bullmq = bullmqSettings(env);
    this.mqtt = env.MQTT_URL
      ? { url: env.MQTT_URL, username: env.MQTT_USERNAME, password: env.MQTT_PASSWORD, acl: env.MQTT_ACL }
      : undefined;
    this.mqttShareGroup = env.MQTT_SHARE_GROUP;
    this.mqttClientId = env.MQTT_CLIENT_ID;
    this.embeddedBrokerPort = env.EDGELOOP_EMBEDDED_BROKER_PORT;
    this.embeddedBrokerHost = env.EDGELOOP_EMBEDDED_BROKER_HOST;
    this.mqttPublicUrl = env.EDGELOOP_MQTT_PUBLIC_URL;
    this.publicUrl = env.EDGELOOP_PUBLIC_URL;
    this.dashboardDir = env.EDGELOOP_DASHBOARD_DIR;
    this.rolloutTickMs = env.EDGELOOP_ROLLOUT_TICK_MS;
    this.rolloutWaveTimeoutSeconds = env.EDGELOOP_ROLLOUT_WAVE_TIMEOUT_SECONDS;
    this.aggregateBucketSeconds = env.EDGELOOP_AGGREGATE_BUCKET_SECONDS;
    this.rawRetentionHours = env.EDGELOOP_RAW_RETENTION_HOURS;
    this.ingestConcurrency = env.EDGELOOP_INGEST_CONCURRENCY;
    this.workers = env.EDGELOOP_WORKERS;
    this.predictionIntake = env.EDGELOOP_PREDICTION_INTAKE;
    this.driftWindowSeconds = env.EDGELOOP_DRIFT_WINDOW_SECONDS;
    this.driftCheckSeconds = env.EDGELOOP_DRIFT_CHECK_SECONDS;
    this.pgliteVacuumSeconds = env.EDGELOOP_PGLITE_VACUUM_SECONDS;
    this.driftReferenceMaxWindows = env.EDGELOOP_DRIFT_REFERENCE_MAX_WINDOWS;
    this.driftLatenessSeconds = env.EDGELOOP_DRIFT_LATENESS_SECONDS ?? 2 * env.EDGELOOP_AGGREGATE_BUCKET_SECONDS;
    this.driftAlarm = {
      ...(env.EDGELOOP_DRIFT_CONFIRM_WINDOWS !== undefined ? { confirmWindows: env.EDGELOOP_DRIFT_CONFIRM_WINDOWS } : {}),
      ...(env.EDGELOOP_DRIFT_COOLDOWN_SECONDS !== undefined ? { cooldownMs: env.EDGELOOP_DRIFT_COOLDOWN_SECONDS * 1000 } : {}),
    };
    this.s3 =
      env.S3_ENDPOINT && env.S3_ACCESS_KEY && env.S3_SECRET_KEY
        ? {
            endPoint: env.S3_ENDPOINT,
            port: env.S3_PORT,
            useSSL: env.S3_USE_SSL,
            accessKey: env.S3_ACCESS_KEY,
            secretKey: env.S3_SECRET_KEY,
            region: env.S3_REGION,
          }
        : undefined;
    this.bucket = env.S3_BUCKET;
    this.maxUploadBytes = env.EDGELOOP_MAX_UPLOAD_BYTES;
    this.sqlDir = env.EDGELOOP_SQL_DIR ?? `${env.EDGELOOP_DATA_DIR}/sql`;
    this.validationTimeoutMs = env.EDGELOOP_VALIDATION_TIMEOUT_MS;
    this.bootstrapToken = env.EDGELOOP_BOOTSTRAP_TOKEN;
    this.signingKey = env.EDGELOOP_SIGNING_KEY;
    this.secretsKey = env.EDGELOOP_SECRETS_KEY;
    this.publicEndpoints = { metrics: env.EDGELOOP_METRICS_PUBLIC, docs: env.EDGELOOP_DOCS_PUBLIC };
    this.logLevel = env.EDGELOOP_LOG_LEVEL;
    this.webhooks = {
      allowList: parseAllowList(env.EDGELOOP_WEBHOOK_ALLOW).allowList,
      maxAttempts: env.EDGELOOP_WEBHOOK_MAX_ATTEMPTS,
      timeoutMs: env.EDGELOOP_WEBHOOK_TIMEOUT_MS,
      backoffMs: env.EDGELOOP_WEBHOOK_BACKOFF_MS,
    };
    this.quotas = quotaSettings(env);
  }

  static fromEnv(env: Record<string, string | undefined> = process.env): CloudConfig {
    const placeholders = placeholderSecrets(env).map((name) => `${name}: a placeholder value from an example; set a secret of your own`);
    let parsed: CloudEnv;
    try {
      parsed = parseEnv(cloudEnvSchema, env);
    } catch (error) {
      throw error instanceof ConfigError ? new ConfigError([...error.problems, ...placeholders]) : error;
    }
    const problems: string[] = [...placeholders];
    if (parsed.S3_ENDPOINT && !(parsed.S3_ACCESS_KEY && parsed.S3_SECRET_KEY)) {
      problems.push('S3_ACCESS_KEY and S3_SECRET_KEY are required with S3_ENDPOINT');
    }
    if ((parsed.MQTT_USERNAME || parsed.MQTT_PASSWORD) && !parsed.MQTT_URL) {
      problems.push('MQTT_URL is required with MQTT_USERNAME/MQTT_PASSWORD');
    }
    if (parsed.MQTT_ACL === 'dynsec' && !(parsed.MQTT_URL && parsed.MQTT_USERNAME)) {
      problems.push('MQTT_ACL=dynsec needs MQTT_URL and the admin MQTT_USERNAME/MQTT_PASSWORD');
    }
    if (!parsed.EDGELOOP_PREDICTION_INTAKE && !parsed.MQTT_URL) {
      problems.push('EDGELOOP_PREDICTION_INTAKE=false needs MQTT_URL: on the embedded broker this process is the only one to take the devices\' predictions');
    }
    problems.push(...bullmqProblems(parsed));
    problems.push(...httpTimeoutProblems(parsed));
    if (problems.length > 0) throw new ConfigError(problems);
    return new CloudConfig(parsed);
  }

  /** Devices and rollouts need a broker (embedded or external) and Redis for the rollout queue. */
  get rolloutsEnabled(): boolean {
    return (this.mqtt !== undefined || this.embeddedBrokerPort !== undefined) && this.redisUrl !== undefined;
  }

  /** Webhook subscriptions and deliveries need Redis for the `webhooks` queue. */
  get webhooksEnabled(): boolean {
    return this.redisUrl !== undefined;
  }
}
