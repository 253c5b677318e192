import { freePort, startRedis, startS3, type RedisServer, type S3Server } from '@edgeloop/harness';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assembleImageTree, hostArch, listFiles, modulesOutside, repoRoot, TreeProcess, until, type ImageTree } from './image-tree.support';

/** Files a production image must not hold: tests, test support (the test harness too), fixtures, benches. */
const NOT_PRODUCTION = /(\.(spec|int|e2e)\.[jt]sx?$)|(^|\/)(testing|test|fixtures|__fixtures__|bench|e2e)\/|^dist\/libs\/harness\//;

/** PGlite and Nest start in a few seconds on a quiet machine; 90 s were seen with a load average of 18 on 2 cores. */
(hostArch ? describe : describe.skip)(`the ${hostArch} cloud image tree runs on its own`, () => {
  let tree: ImageTree;
  let s3: S3Server;
  let redis: RedisServer;
  let cloud: TreeProcess | undefined;
  const data = mkdtempSync(join(tmpdir(), 'cloud-tree-data-'));

  beforeAll(async () => {
    tree = assembleImageTree('cloud', hostArch!);
    s3 = await startS3();
    redis = await startRedis();
  }, 10 * 60_000);

  afterAll(async () => {
    await cloud?.stop();
    await redis?.stop();
    await s3?.stop();
    tree?.remove();
    rmSync(data, { recursive: true, force: true });
  });

  it('holds the compiled cloud, its libs and the dashboard, and no test, fixture, bench or edge-only package', () => {
    const files = listFiles(tree.dir);
    // no test file anywhere in the tree but node_modules (dist/, package.json), and no test harness: the cloud's
    // embedded broker comes from libs/embedded
    expect(files.filter((f) => !f.startsWith('node_modules/') && NOT_PRODUCTION.test(f))).toEqual([]);
    expect(files).toEqual(
      expect.arrayContaining([
        'dist/apps/cloud/src/main.js',
        'dist/apps/cloud/src/identities/face-worker.js',
        'dist/dashboard/index.html',
        'dist/libs/embedded/src/embedded-broker.js',
      ]),
    );
    // the broker entry alone: no spawners, no s3rver loader
    expect(files.filter((f) => /^dist\/libs\/embedded\/src\/(redis|mosquitto|s3|server-process)\.js$/.test(f))).toEqual([]);
    expect(files.some((f) => f.startsWith('dist/apps/edge/') || f.startsWith('dist/apps/cli/'))).toBe(false);
    for (const devOnly of ['jest', '@swc', 'vite', 'eslint', 'node', 'playwright-core'])
      expect(existsSync(join(tree.dir, 'node_modules', devOnly))).toBe(false);
    expect(modulesOutside(tree.dir)).toEqual([]);
  });

  it('starts from the tree alone (no NODE_PATH) with Redis, S3, SQL and its embedded broker, and answers /api/v1/health', async () => {
    const token = `elt_${randomBytes(24).toString('base64url')}`;
    cloud = new TreeProcess(tree.dir, 'dist/apps/cloud/src/main.js', {
      S3_ENDPOINT: s3.endPoint,
      S3_PORT: String(s3.port),
      S3_ACCESS_KEY: s3.accessKey,
      S3_SECRET_KEY: s3.secretKey,
      REDIS_URL: redis.url,
      EDGELOOP_BOOTSTRAP_TOKEN: token,
      EDGELOOP_HTTP_PORT: String(await freePort()),
      EDGELOOP_EMBEDDED_BROKER_PORT: String(await freePort()),
      EDGELOOP_DATA_DIR: data,
      EDGELOOP_SQL_DIR: 'memory://',
      EDGELOOP_LOG_LEVEL: 'log',
      NO_COLOR: '1',
    });
    const [, url] = await cloud.waitForOutput(/listening on (http:\/\/\S+) /, 150_000);
    const health = await until(async () => {
      const res = await fetch(`${url}/api/v1/health`).catch(() => undefined);
      return res?.status === 200 ? ((await res.json()) as Record<string, unknown>) : undefined;
    }, 30_000);
    expect(health).toMatchObject({ status: 'ok', version: (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version });
    // SQL, the registry and the dashboard's static files answer too
    const models = await fetch(`${url}/api/v1/models`, { headers: { authorization: `Bearer ${token}` } });
    expect(models.status).toBe(200);
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="app"');
    expect(cloud.output).not.toMatch(/Cannot find module|MODULE_NOT_FOUND/);
    await cloud.stop();
  }, 240_000);
});
