/**
 * The production cloud as `startCloud` builds it, in the bench's process (the bench writes hard examples
 * straight into its SQL, as the ingest stores them), on the bench's own Redis, an S3 server in a child
 * process (as MinIO is in production: s3rver in this process would put its work on the cloud's event loop)
 * and PGlite in a temp folder (startS3Process, libs/harness); with a small authenticated API client.
 */
import { freePort, startRedis, startS3Process, type RedisServer, type S3Server } from '@edgeloop/harness';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { startCloud, type RunningCloud } from '../../apps/cloud/src/app/bootstrap';
import { CloudConfig } from '../../apps/cloud/src/config/cloud.config';
import { SqlDatabase } from '../../apps/cloud/src/database/sql-database';

export interface RetrainCloud {
  cloud: RunningCloud;
  url: string;
  token: string;
  db: SqlDatabase;
  api<T>(method: string, route: string, body?: unknown): Promise<T>;
  /** Response body bytes of an authenticated GET (a blob download). */
  download(route: string): Promise<number>;
  /** The body of an authenticated GET, or null on 404. */
  fetchBytes(route: string): Promise<Uint8Array | null>;
  stop(): Promise<void>;
}

/** A hard example as the ingest stores it: the device's embedding, a capture time, and its label (null: confirmed unknown). */
export interface StoredHardExample {
  id: string;
  deviceId: string;
  modelName: string;
  embedding: Float32Array;
  capturedAt: number;
  label: string | null;
}

export async function startRetrainCloud(workDir: string, logLevel = 'warn'): Promise<RetrainCloud> {
  mkdirSync(workDir, { recursive: true });
  let redis: RedisServer | undefined;
  let s3: S3Server | undefined;
  let cloud: RunningCloud | undefined;
  const stop = async () => {
    await cloud?.close().catch(() => undefined);
    await redis?.stop();
    await s3?.stop();
  };
  try {
    [redis, s3] = await Promise.all([startRedis(), startS3Process()]);
    const token = `elt_${randomBytes(24).toString('base64url')}`;
    cloud = await startCloud(
      CloudConfig.fromEnv({
        S3_ENDPOINT: s3.endPoint,
        S3_PORT: String(s3.port),
        S3_ACCESS_KEY: s3.accessKey,
        S3_SECRET_KEY: s3.secretKey,
        REDIS_URL: redis.url,
        EDGELOOP_EMBEDDED_BROKER_PORT: String(await freePort()),
        EDGELOOP_SQL_DIR: path.join(workDir, 'sql'),
        EDGELOOP_DATA_DIR: path.join(workDir, 'data'),
        EDGELOOP_BOOTSTRAP_TOKEN: token,
        EDGELOOP_LOG_LEVEL: logLevel,
      }),
    );
    const url = cloud.url;
    const request = async (method: string, route: string, body?: unknown, retry = true): Promise<Response> => {
      const res = await fetch(`${url}${route}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined && !(body instanceof FormData) ? { 'content-type': 'application/json' } : {}),
        },
        body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
      }).catch((err: Error) => {
        // the first request after a long pause may meet a keep-alive socket the server closed: sent again once
        if (retry && String(err.cause).includes('ECONNRESET')) return undefined;
        throw new Error(`${method} ${route}: ${err.message} (${String(err.cause)})`);
      });
      if (!res) return request(method, route, body, false);
      if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
      return res;
    };
    return {
      cloud,
      url,
      token,
      db: cloud.app.get(SqlDatabase),
      api: async <T>(method: string, route: string, body?: unknown) => (await (await request(method, route, body)).json()) as T,
      download: async (route: string) => (await (await request('GET', route)).arrayBuffer()).byteLength,
      fetchBytes: async (route: string) => {
        const res = await fetch(`${url}${route}`, { headers: { authorization: `Bearer ${token}` } });
        if (res.status === 404) {
          await res.arrayBuffer();
          return null;
        }
        if (!res.ok) throw new Error(`GET ${route}: ${res.status} ${await res.text()}`);
        return new Uint8Array(await res.arrayBuffer());
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Inserts hard examples 100 rows a statement (labelled ones with their label, the others confirmed unknown). */
export async function storeHardExamples(db: SqlDatabase, examples: readonly StoredHardExample[], modelVersion = 1): Promise<void> {
  const ROWS = 100;
  const labelledAt = new Date();
  for (let i = 0; i < examples.length; i += ROWS) {
    const rows = examples.slice(i, i + ROWS);
    const params: unknown[] = [];
    const values = rows.map((e) => {
      const p = params.length;
      params.push(
        e.id,
        e.deviceId,
        e.modelName,
        modelVersion,
        JSON.stringify(Array.from(e.embedding)),
        new Date(e.capturedAt),
        e.label,
        e.label ? labelledAt : null,
        e.label ? null : labelledAt,
      );
      return `($${p + 1}, $${p + 2}, $${p + 1}, $${p + 3}, $${p + 4}, 'unknown', 0.9, 0.2, 0.01, $${p + 5}, $${p + 6}, $${p + 7}, $${p + 8}, $${p + 9})`;
    });
    await db.query(
      `insert into hard_examples (id, device_id, example_id, model_name, model_version, reason, det_score, score, margin, embedding, captured_at, label, labelled_at, unknown_confirmed_at)
       values ${values.join(', ')}`,
      params,
    );
  }
}
