import {
  dynamicSecurityPluginPath,
  postgresAvailability,
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
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TcpGate } from './tcp-gate';

export interface Backends {
  /** A PostgreSQL the harness started on a free port (initdb + postgres), so a restart touches no shared server. */
  postgres: PostgresServer;
  /** redis-server with its append-only file. */
  redis: RedisServer;
  /** Mosquitto with dynamic security and persistence (sessions and queued QoS 1 messages survive a restart). */
  mosquitto: MosquittoServer;
  s3: S3Server;
  /** The cloud reaches s3rver through this gate: `s3Gate.close()` is an S3 server down, `open()` back. */
  s3Gate: TcpGate;
  adminToken: string;
  /** The environment every cloud replica gets: these servers, the admin token, MQTT admin credentials, dynsec. */
  cloudEnv: Record<string, string>;
  stop(): Promise<void>;
}

/** Why the backends cannot start here, or undefined when they can (a test skips with this line). */
export function backendsUnavailable(): string | undefined {
  const pg = postgresAvailability();
  if (!pg.available) return pg.reason;
  if (!dynamicSecurityPluginPath()) return 'the mosquitto dynamic-security plugin is not installed';
  return undefined;
}

/** PostgreSQL, Redis (AOF), Mosquitto (dynamic security, persistent) and s3rver, each on a free port. */
export async function startBackends(): Promise<Backends> {
  const started: { stop(): Promise<void> }[] = [];
  try {
    const postgres = await startPostgres();
    started.push(postgres);
    const redis = await startRedis({ appendOnly: true });
    started.push(redis);
    const s3 = await startS3();
    started.push(s3);
    const s3Gate = new TcpGate(s3.port);
    await s3Gate.open();
    started.push({ stop: () => s3Gate.close() });
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-dynsec-'));
    const mqttPassword = randomBytes(12).toString('hex');
    execFileSync('mosquitto_ctrl', ['dynsec', 'init', join(dir, 'dynamic-security.json'), 'edgeloop-admin', mqttPassword]);
    const mosquitto = await startMosquitto({
      config: {
        allowAnonymous: false,
        plugin: dynamicSecurityPluginPath()!,
        pluginOptions: { config_file: join(dir, 'dynamic-security.json') },
        persistence: true,
        // the cloud's persistent sessions hold the QoS 1 batches of a replica that is down
        extraLines: ['max_queued_messages 100000', 'max_inflight_messages 100'],
      },
    });
    started.push(mosquitto);
    const adminToken = `elt_${randomBytes(24).toString('base64url')}`;
    const cloudEnv: Record<string, string> = {
      DATABASE_URL: postgres.url,
      REDIS_URL: redis.url,
      MQTT_URL: mosquitto.url,
      MQTT_USERNAME: 'edgeloop-admin',
      MQTT_PASSWORD: mqttPassword,
      MQTT_ACL: 'dynsec',
      MQTT_SHARE_GROUP: 'edgeloop-cloud',
      S3_ENDPOINT: s3.endPoint,
      S3_PORT: String(s3Gate.port),
      S3_ACCESS_KEY: s3.accessKey,
      S3_SECRET_KEY: s3.secretKey,
      EDGELOOP_BOOTSTRAP_TOKEN: adminToken,
      // every replica signs and reads with one key
      EDGELOOP_SECRETS_KEY: randomBytes(32).toString('hex'),
      EDGELOOP_WEBHOOK_ALLOW: '127.0.0.0/8',
    };
    return {
      postgres,
      redis,
      mosquitto,
      s3,
      s3Gate,
      adminToken,
      cloudEnv,
      stop: async () => {
        await Promise.allSettled(started.reverse().map((server) => server.stop()));
      },
    };
  } catch (error) {
    await Promise.allSettled(started.reverse().map((server) => server.stop()));
    throw error;
  }
}
