import {
  createIsolatedDatabase,
  dynamicSecurityPluginPath,
  freePort,
  startMosquitto,
  startRedis,
  startS3,
  startS3Process,
  type MosquittoServer,
  type PostgresDatabase,
  type RedisServer,
  type S3Server,
} from '@edgeloop/harness';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunningCloud, startCloud } from '../app/bootstrap';
import { CloudConfig } from '../config/cloud.config';

export interface CloudFixtureOptions {
  /** Start devices and rollouts: Redis plus a broker (`embedded` aedes in the cloud, or Mosquitto with dynamic security). */
  broker?: 'embedded' | 'mosquitto';
  /** Keep SQL in a folder (PGlite) so that `restart()` finds it again; default in memory. */
  persistentSql?: boolean;
  env?: Record<string, string>;
  /** SQL engine: PostgreSQL (a fresh database on DATABASE_URL's server) or PGlite; default PostgreSQL when DATABASE_URL is set. */
  sql?: 'postgres' | 'pglite';
  /**
   * Where s3rver runs: in the test's process (default, quickest to start) or in a process of its own, as S3 is in
   * every deployment (`npm start` included) — for tests that time the cloud's answers, so that the S3 server's
   * work neither waits for nor delays the cloud's event loop.
   */
  s3?: 'in-process' | 'process';
}

export interface CloudFixture {
  cloud: RunningCloud;
  s3: S3Server;
  redis?: RedisServer;
  mosquitto?: MosquittoServer;
  /** The URL devices connect to. */
  mqttUrl?: string;
  url: string;
  adminToken: string;
  sql: 'postgres' | 'pglite';
  /** fetch against the cloud with the admin token unless another is given. */
  api(path: string, init?: RequestInit & { token?: string | null }): Promise<Response>;
  /**
   * Stops the cloud process part and starts it again on the same port with the same SQL, Redis and broker;
   * `whileDown` runs in between (devices publishing while the cloud is away).
   */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

/** What a cloud needs around it, started for a test: S3, SQL, and optionally Redis and a broker, with the cloud's environment. */
export interface CloudDependencies {
  /** With `s3: 'process'`, its process id too. */
  s3: S3Server & { pid?: number };
  redis?: RedisServer;
  mosquitto?: MosquittoServer;
  /** The URL devices connect to. */
  mqttUrl?: string;
  adminToken: string;
  sql: 'postgres' | 'pglite';
  /** The PostgreSQL database's URL (the postgres engine). */
  databaseUrl?: string;
  /** The cloud's environment: the dependencies' addresses and credentials, then `options.env`. */
  env: Record<string, string>;
  /** Stops what was started here (the broker, Redis, S3, the database), in that order. */
  stop(): Promise<void>;
}

/**
 * The dependencies of a cloud under test: s3rver on a free port, SQL on PostgreSQL when DATABASE_URL is set
 * (a fresh database each time) or PGlite, a bootstrap admin token, and optionally Redis and a broker. The cloud
 * itself is started by the caller, in its process (`startCloudFixture`) or as a process of its own.
 */
export async function startCloudDependencies(options: CloudFixtureOptions = {}): Promise<CloudDependencies> {
  const s3 = options.s3 === 'process' ? await startS3Process() : await startS3();
  let pg: PostgresDatabase | undefined;
  const engine = options.sql ?? (process.env.DATABASE_URL ? 'postgres' : 'pglite');
  if (engine === 'postgres') {
    if (!process.env.DATABASE_URL) throw new Error('the postgres engine needs DATABASE_URL');
    pg = await createIsolatedDatabase(process.env.DATABASE_URL);
  }
  const adminToken = `elt_${randomBytes(24).toString('base64url')}`;
  const env: Record<string, string> = {
    S3_ENDPOINT: s3.endPoint,
    S3_PORT: String(s3.port),
    S3_ACCESS_KEY: s3.accessKey,
    S3_SECRET_KEY: s3.secretKey,
    EDGELOOP_BOOTSTRAP_TOKEN: adminToken,
    EDGELOOP_LOG_LEVEL: process.env.EDGELOOP_TEST_LOG_LEVEL ?? 'warn',
    EDGELOOP_HTTP_PORT: String(await freePort()),
    // the fixture's own data folder (signing key file, model caches), kept across its restarts
    EDGELOOP_DATA_DIR: mkdtempSync(join(tmpdir(), 'edgeloop-data-')),
    ...(pg ? { DATABASE_URL: pg.url } : { EDGELOOP_SQL_DIR: options.persistentSql ? mkdtempSync(join(tmpdir(), 'edgeloop-sql-')) : 'memory://' }),
  };
  let redis: RedisServer | undefined;
  let mosquitto: MosquittoServer | undefined;
  let mqttUrl: string | undefined;
  if (options.broker) {
    redis = await startRedis();
    env.REDIS_URL = redis.url;
    env.EDGELOOP_ROLLOUT_TICK_MS = '200';
    if (options.broker === 'embedded') {
      const port = await freePort();
      env.EDGELOOP_EMBEDDED_BROKER_PORT = String(port);
      mqttUrl = `mqtt://127.0.0.1:${port}`;
    } else {
      const plugin = dynamicSecurityPluginPath();
      if (!plugin) throw new Error('the mosquitto dynamic-security plugin is not installed');
      const dir = mkdtempSync(join(tmpdir(), 'edgeloop-dynsec-'));
      const adminPassword = randomBytes(12).toString('hex');
      execFileSync('mosquitto_ctrl', ['dynsec', 'init', join(dir, 'dynamic-security.json'), 'edgeloop-admin', adminPassword]);
      mosquitto = await startMosquitto({
        config: { allowAnonymous: false, plugin, pluginOptions: { config_file: join(dir, 'dynamic-security.json') } },
      });
      mqttUrl = mosquitto.url;
      Object.assign(env, { MQTT_URL: mosquitto.url, MQTT_USERNAME: 'edgeloop-admin', MQTT_PASSWORD: adminPassword, MQTT_ACL: 'dynsec' });
    }
  }
  Object.assign(env, options.env ?? {});
  return {
    s3,
    redis,
    mosquitto,
    mqttUrl,
    adminToken,
    sql: pg ? 'postgres' : 'pglite',
    databaseUrl: pg?.url,
    env,
    async stop() {
      await mosquitto?.stop();
      await redis?.stop();
      await s3.stop();
      await pg?.stop();
    },
  };
}

/**
 * A real cloud for integration tests: s3rver on a free port, SQL on PostgreSQL when DATABASE_URL is set
 * (a fresh database each time) or PGlite, a bootstrap admin token, and optionally Redis and a broker.
 */
export async function startCloudFixture(envOrOptions: Record<string, string> | CloudFixtureOptions = {}): Promise<CloudFixture> {
  const options: CloudFixtureOptions = ['env', 'broker', 'persistentSql', 'sql', 's3'].some((key) => key in envOrOptions)
    ? (envOrOptions as CloudFixtureOptions)
    : { env: envOrOptions as Record<string, string> };
  const deps = await startCloudDependencies(options);
  const logger = process.env.EDGELOOP_TEST_LOGS === '1';
  const fixture: CloudFixture = {
    cloud: await startCloud(CloudConfig.fromEnv(deps.env), { logger }),
    s3: deps.s3,
    redis: deps.redis,
    mosquitto: deps.mosquitto,
    mqttUrl: deps.mqttUrl,
    url: '',
    adminToken: deps.adminToken,
    sql: deps.sql,
    api: adminApi(() => fixture.url, deps.adminToken),
    async restart(whileDown) {
      await fixture.cloud.close();
      await whileDown?.();
      fixture.cloud = await startCloud(CloudConfig.fromEnv(deps.env), { logger });
    },
    async stop() {
      await fixture.cloud.close();
      await deps.stop();
    },
  };
  fixture.url = fixture.cloud.url;
  return fixture;
}

/** fetch against the cloud at `url()` with the admin token unless another is given (`token: null`: none). */
export function adminApi(url: () => string, adminToken: string): CloudFixture['api'] {
  return (path, init = {}) => {
    const { token = adminToken, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (token) headers.set('authorization', `Bearer ${token}`);
    return fetch(`${url()}${path}`, { ...rest, headers });
  };
}
