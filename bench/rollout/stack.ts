import {
  dynamicSecurityPluginPath,
  startMosquitto,
  startPostgres,
  startRedis,
  startS3,
  type MosquittoServer,
  type PostgresServer,
  type RedisServer,
  type S3Server,
} from '@edgeloop/harness';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { startBenchCloud, type BenchCloud } from '../common/cloud-process';

/** `embedded`: one cloud with its aedes broker and PGlite in memory; `postgres`: PostgreSQL + Mosquitto (dynamic security). */
export type StackKind = 'embedded' | 'postgres';

export interface StackOptions {
  kind: StackKind;
  /**
   * 0: one cloud process doing everything. N ≥ 1 (postgres only): one API replica (`EDGELOOP_WORKERS=false`,
   * the one the bench talks to) and N worker replicas, each with its own persistent MQTT session, in the
   * shared subscription group `edgeloop-cloud`.
   */
  replicas: number;
  mainJs: string;
  cwd: string;
  workDir: string;
  bucket: string;
  /** Settings under test for every cloud process. */
  env: Record<string, string>;
  /** `--require`d into the cloud that creates deployments and ticks them (single-process stacks only). */
  preload?: string;
}

export interface StackProcess {
  name: string;
  pid: number;
}

export interface RolloutStack {
  kind: StackKind;
  replicas: number;
  /** The API the bench talks to. */
  url: string;
  adminToken: string;
  mqttUrl: string;
  /** The cloud process the probe is loaded into, when there is one. */
  probed: BenchCloud | undefined;
  /** Every process whose CPU the bench follows (the cloud replicas, Redis, the broker, PostgreSQL). */
  processes(): StackProcess[];
  describe(): string;
  logLines(): string[];
  stop(): Promise<void>;
}

const SHARE_GROUP = 'edgeloop-cloud';
/** The cloud's boot (PGlite's initdb, dynamic security) took more than 60 s at load 30 here. */
const HEALTH_TIMEOUT_MS = 240_000;

/** Starts the servers and the cloud process(es) of one bench configuration, each on free ports. */
export async function startStack(options: StackOptions): Promise<RolloutStack> {
  if (options.kind === 'embedded' && options.replicas > 0)
    throw new Error('--replicas needs --stack postgres (the embedded broker and PGlite live in one process)');
  const started: Array<{ stop(): Promise<void> }> = [];
  const stopAll = async () => {
    for (const server of started.reverse()) await server.stop().catch(() => undefined);
    started.length = 0;
  };
  try {
    const [redis, s3] = await Promise.all([startRedis({ appendOnly: false }), startS3({ buckets: [options.bucket] })]);
    started.push(s3, redis);
    const cloudTmp = (name: string) => {
      const dir = path.join(options.workDir, `cloud-${name}`);
      mkdirSync(dir, { recursive: true });
      return dir;
    };
    if (options.kind === 'embedded') {
      const cloud = await healthyWithin(3, () =>
        startBenchCloud({
          mainJs: options.mainJs,
          cwd: options.cwd,
          s3,
          redis,
          sql: { kind: 'memory' },
          tmpDir: cloudTmp('embedded'),
          healthTimeoutMs: HEALTH_TIMEOUT_MS,
          env: options.env,
          preload: options.preload,
        }),
      );
      started.push(cloud);
      return {
        kind: 'embedded',
        replicas: 0,
        url: cloud.url,
        adminToken: cloud.adminToken,
        mqttUrl: cloud.mqttUrl,
        probed: cloud,
        processes: () => [
          { name: 'cloud (embedded broker, PGlite)', pid: cloud.pid },
          { name: 'redis', pid: redis.pid ?? -1 },
        ],
        describe: () =>
          `cloud pid ${cloud.pid} on ${cloud.url} with its embedded aedes broker ${cloud.mqttUrl} and PGlite in memory; Redis ${redis.url}; s3rver ${s3.url} (in this process)`,
        logLines: () => cloud.logLines(),
        stop: stopAll,
      };
    }
    return await startExternal(options, redis, s3, started, stopAll, cloudTmp);
  } catch (err) {
    await stopAll();
    throw err;
  }
}

async function startExternal(
  options: StackOptions,
  redis: RedisServer,
  s3: S3Server,
  started: Array<{ stop(): Promise<void> }>,
  stopAll: () => Promise<void>,
  cloudTmp: (name: string) => string,
): Promise<RolloutStack> {
  const plugin = dynamicSecurityPluginPath();
  if (!plugin) throw new Error('--stack postgres needs the mosquitto dynamic-security plugin (mosquitto_dynamic_security.so)');
  const postgres: PostgresServer = await startPostgres();
  started.push(postgres);
  const dynsecDir = path.join(options.workDir, 'dynsec');
  mkdirSync(dynsecDir, { recursive: true });
  const mqttPassword = randomBytes(12).toString('hex');
  execFileSync('mosquitto_ctrl', ['dynsec', 'init', path.join(dynsecDir, 'dynamic-security.json'), 'edgeloop-admin', mqttPassword]);
  const mosquitto: MosquittoServer = await startMosquitto({
    config: {
      allowAnonymous: false,
      plugin,
      pluginOptions: { config_file: path.join(dynsecDir, 'dynamic-security.json') },
      persistence: false,
      extraLines: ['max_inflight_messages 100'],
    },
  });
  started.push(mosquitto);
  const adminToken = `elt_${randomBytes(24).toString('base64url')}`;
  const common: Record<string, string> = {
    REDIS_URL: redis.url,
    MQTT_URL: mosquitto.url,
    MQTT_USERNAME: 'edgeloop-admin',
    MQTT_PASSWORD: mqttPassword,
    MQTT_ACL: 'dynsec',
    MQTT_SHARE_GROUP: SHARE_GROUP,
    // every replica signs and reads with one key
    EDGELOOP_SECRETS_KEY: randomBytes(32).toString('hex'),
    EDGELOOP_BOOTSTRAP_TOKEN: adminToken,
    ...options.env,
  };
  const roles: Array<{ name: string; workers: boolean }> =
    options.replicas === 0
      ? [{ name: 'cloud', workers: true }]
      : [{ name: 'api-1', workers: false }, ...Array.from({ length: options.replicas }, (_, i) => ({ name: `worker-${i + 1}`, workers: true }))];
  const clouds: Array<BenchCloud & { name: string }> = [];
  const start = async (role: { name: string; workers: boolean }) => {
    const cloud = await healthyWithin(3, () =>
      startBenchCloud({
        mainJs: options.mainJs,
        cwd: options.cwd,
        s3,
        sql: { kind: 'postgres', url: postgres.url },
        tmpDir: cloudTmp(role.name),
        healthTimeoutMs: HEALTH_TIMEOUT_MS,
        env: { ...common, EDGELOOP_WORKERS: String(role.workers), MQTT_CLIENT_ID: `edgeloop-${role.name}` },
        preload: options.replicas === 0 ? options.preload : undefined,
      }),
    );
    started.push(cloud);
    clouds.push({ ...cloud, name: role.name });
  };
  // the first one migrates SQL; the others start together
  await start(roles[0]);
  await Promise.all(roles.slice(1).map(start));
  const api = clouds.find((c) => c.name === roles[0].name)!;
  return {
    kind: 'postgres',
    replicas: options.replicas,
    url: api.url,
    adminToken,
    mqttUrl: mosquitto.url,
    probed: options.replicas === 0 ? api : undefined,
    processes: () => [
      ...roles.map((r) => ({ name: r.name, pid: clouds.find((c) => c.name === r.name)!.pid })),
      { name: 'mosquitto', pid: mosquitto.pid ?? -1 },
      { name: 'redis', pid: redis.pid ?? -1 },
      { name: 'postgresql (all its processes)', pid: postgres.pid ?? -1 },
    ],
    describe: () =>
      `${clouds.map((c) => `${c.name} pid ${c.pid} on ${c.url}`).join(', ')}; Mosquitto ${mosquitto.url} (dynamic security, share group ${SHARE_GROUP}); ` +
      `PostgreSQL ${postgres.url.replace(/\/\/[^@]*@/, '//')}; Redis ${redis.url}; s3rver ${s3.url} (in this process)`,
    logLines: () => clouds.flatMap((c) => c.logLines().map((line) => `${c.name}: ${line}`)),
    stop: stopAll,
  };
}

/**
 * A cloud that did not answer its health check in time (PGlite's initdb alone took 30 s and more at load 30
 * here; a dynamic-security answer can pass its 5 s at such a load) is started again, up to `attempts` times.
 */
async function healthyWithin<T>(attempts: number, start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= attempts || !/not healthy|exited/.test((err as Error).message)) throw err;
      process.stdout.write(`the cloud did not come up (attempt ${attempt} of ${attempts}): ${(err as Error).message.split('\n')[0]}; starting it again\n`);
    }
  }
}
