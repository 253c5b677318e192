import { createIsolatedDatabase, startS3, type PostgresDatabase, type S3Server } from '@edgeloop/harness';
import { randomBytes } from 'node:crypto';
import { RunningCloud, startCloud } from '../app/bootstrap';
import { CloudConfig } from '../config/cloud.config';

export interface CloudFixture {
  cloud: RunningCloud;
  s3: S3Server;
  url: string;
  adminToken: string;
  sql: 'postgres' | 'pglite';
  /** fetch against the cloud with the admin token unless another is given. */
  api(path: string, init?: RequestInit & { token?: string | null }): Promise<Response>;
  stop(): Promise<void>;
}

/**
 * A real cloud for integration tests: s3rver on a free port, SQL on PostgreSQL when DATABASE_URL is set
 * (a fresh database each time) or in-memory PGlite, and a bootstrap admin token.
 */
export async function startCloudFixture(env: Record<string, string> = {}): Promise<CloudFixture> {
  const s3 = await startS3();
  let pg: PostgresDatabase | undefined;
  if (process.env.DATABASE_URL) pg = await createIsolatedDatabase(process.env.DATABASE_URL);
  const adminToken = `elt_${randomBytes(24).toString('base64url')}`;
  const config = CloudConfig.fromEnv({
    S3_ENDPOINT: s3.endPoint,
    S3_PORT: String(s3.port),
    S3_ACCESS_KEY: s3.accessKey,
    S3_SECRET_KEY: s3.secretKey,
    EDGELOOP_BOOTSTRAP_TOKEN: adminToken,
    ...(pg ? { DATABASE_URL: pg.url } : { EDGELOOP_SQL_DIR: 'memory://' }),
    EDGELOOP_LOG_LEVEL: 'warn',
    ...env,
  });
  const cloud = await startCloud(config, { logger: process.env.EDGELOOP_TEST_LOGS === '1' });
  return {
    cloud,
    s3,
    url: cloud.url,
    adminToken,
    sql: pg ? 'postgres' : 'pglite',
    api(path, init = {}) {
      const { token = adminToken, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (token) headers.set('authorization', `Bearer ${token}`);
      return fetch(`${cloud.url}${path}`, { ...rest, headers });
    },
    async stop() {
      await cloud.close();
      await s3.stop();
      await pg?.stop();
    },
  };
}
