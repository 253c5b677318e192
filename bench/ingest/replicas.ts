import { createIsolatedDatabase, dynamicSecurityPluginPath, startMosquitto, type MosquittoServer, type RedisServer, type S3Server } from '@edgeloop/harness';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { startBenchCloud, type BenchCloud } from '../common/cloud-process';
import { CpuWindow } from './cpu-window';
import { measureEndToEnd, type EndToEndRun, type EndToEndSettings } from './end-to-end';

/** How long a cloud may take to boot on a loaded machine. */
const CLOUD_BOOT_TIMEOUT_MS = 180_000;

export interface ReplicasRun {
  workers: number;
  run: EndToEndRun;
  /** Cores busy on average over the timed part, per process (`api`, `worker-1`, …, redis, postgres, mosquitto, bench). */
  cores: Record<string, number | null>;
  /** CPU milliseconds per batch over every cloud process. */
  cloudCpuMsPerBatch: number | null;
  /** Whether the API replica took device batches off the broker too (before EDGELOOP_PREDICTION_INTAKE it did). */
  apiPredictionIntake: boolean;
}

export interface ReplicasSetup {
  mainJs: string;
  root: string;
  workDir: string;
  s3: S3Server;
  redis: RedisServer;
  /** A PostgreSQL cluster: each run gets a fresh database on it. */
  postgres: { url: string; pid?: number };
  concurrency: number;
  bucketSeconds: number;
  env: Record<string, string>;
  flushRedis(): Promise<void>;
  log(line: string): void;
}

/** Why the replica runs cannot happen here, or undefined when they can. */
export function replicasUnavailable(): string | undefined {
  return dynamicSecurityPluginPath() ? undefined : 'the mosquitto dynamic-security plugin is not installed';
}

/**
 * The production shape on PostgreSQL (docs/scaling.md): one API replica (EDGELOOP_WORKERS=false,
 * EDGELOOP_PREDICTION_INTAKE=false: it takes no device batches off the broker) and `workers`
 * worker replicas, separate processes sharing one PostgreSQL database, one Redis and one Mosquitto (dynamic
 * security, the shared subscription group `edgeloop-cloud`, so every replica takes a share of the batches and
 * enqueues it). The devices are provisioned through the API replica and `GET /api/v1/health` is timed there.
 */
export async function measureReplicas(setup: ReplicasSetup, e2e: Omit<EndToEndSettings, 'encoding'>, workers: number): Promise<ReplicasRun> {
  await setup.flushRedis();
  const dir = path.join(setup.workDir, `replicas-${workers}`);
  mkdirSync(dir, { recursive: true });
  const mqttPassword = randomBytes(12).toString('hex');
  execFileSync('mosquitto_ctrl', ['dynsec', 'init', path.join(dir, 'dynamic-security.json'), 'edgeloop-admin', mqttPassword]);
  let mosquitto: MosquittoServer | undefined;
  const clouds: BenchCloud[] = [];
  const database = await createIsolatedDatabase(setup.postgres.url);
  try {
    mosquitto = await startMosquitto({
      config: {
        allowAnonymous: false,
        plugin: dynamicSecurityPluginPath()!,
        pluginOptions: { config_file: path.join(dir, 'dynamic-security.json') },
        extraLines: ['max_queued_messages 100000', 'max_inflight_messages 100'],
      },
    });
    const adminToken = `elt_${randomBytes(24).toString('base64url')}`;
    const common = {
      // one bootstrap token for every replica (each would otherwise bring its own and replace the last)
      EDGELOOP_BOOTSTRAP_TOKEN: adminToken,
      REDIS_URL: setup.redis.url,
      MQTT_URL: mosquitto.url,
      MQTT_USERNAME: 'edgeloop-admin',
      MQTT_PASSWORD: mqttPassword,
      MQTT_ACL: 'dynsec',
      MQTT_SHARE_GROUP: 'edgeloop-cloud',
      EDGELOOP_SECRETS_KEY: randomBytes(32).toString('hex'),
      EDGELOOP_INGEST_CONCURRENCY: String(setup.concurrency),
      EDGELOOP_AGGREGATE_BUCKET_SECONDS: String(setup.bucketSeconds),
      ...setup.env,
    };
    const start = async (name: string, workersFlag: boolean) => {
      const tmpDir = path.join(dir, name);
      mkdirSync(tmpDir);
      const cloud = await startBenchCloud({
        mainJs: setup.mainJs,
        cwd: setup.root,
        s3: setup.s3,
        sql: { kind: 'postgres', url: database.url },
        tmpDir,
        // an API replica leaves the devices' batches to the worker replicas (EDGELOOP_PREDICTION_INTAKE=false), as deployed
        env: { ...common, EDGELOOP_WORKERS: String(workersFlag), EDGELOOP_PREDICTION_INTAKE: String(workersFlag), MQTT_CLIENT_ID: `edgeloop-bench-${name}` },
        healthTimeoutMs: CLOUD_BOOT_TIMEOUT_MS,
      });
      clouds.push(cloud);
      return cloud;
    };
    // the API replica migrates SQL; the workers start after it
    const api = await start('api', false);
    const workerClouds: BenchCloud[] = [];
    for (let i = 1; i <= workers; i++) workerClouds.push(await start(`worker-${i}`, true));
    setup.log(`replicas: API pid ${api.pid} (${api.url}), worker pids ${workerClouds.map((w) => w.pid).join(', ')}, Mosquitto ${mosquitto.url}`);
    const pids: Record<string, number | undefined> = {
      api: api.pid,
      ...Object.fromEntries(workerClouds.map((w, i) => [`worker-${i + 1}`, w.pid])),
      redis: setup.redis.pid,
      mosquitto: mosquitto.pid,
      postgres: setup.postgres.pid,
      bench: process.pid,
    };
    const cpu = new CpuWindow(pids, ['postgres']);
    const run = await measureEndToEnd(
      { url: api.url, mqttUrl: mosquitto.url, adminToken },
      { ...e2e, encoding: 'columns' },
      {
        onStart: () => cpu.start(),
        log: setup.log,
      },
    );
    const shares = cpu.stop();
    const cloudSeconds = ['api', ...workerClouds.map((_, i) => `worker-${i + 1}`)].map((name) => shares[name]?.cpuSeconds ?? null);
    const cloudCpuMsPerBatch = cloudSeconds.every((s) => s !== null)
      ? Math.round((cloudSeconds.reduce((a, b) => a! + b!, 0)! * 1e5) / run.batches) / 100
      : null;
    return {
      workers,
      run,
      cores: Object.fromEntries(Object.entries(shares).map(([name, s]) => [name, s.cores])),
      cloudCpuMsPerBatch,
      apiPredictionIntake: false,
    };
  } finally {
    for (const cloud of clouds.reverse()) await cloud.stop();
    await mosquitto?.stop();
    await database.stop().catch(() => undefined);
  }
}
