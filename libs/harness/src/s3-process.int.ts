import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from 'minio';
import { startS3Process } from './s3-process';

const repoRoot = resolve(__dirname, '..', '..', '..');

/**
 * Built, startS3Process forks the compiled child: the libs are built with swc into a folder of their own under the
 * ignored `.cache/` (node_modules found by walking up) and exercised from there by a small script.
 */
describe('startS3Process', () => {
  let out: string;

  beforeAll(() => {
    mkdirSync(join(repoRoot, '.cache'), { recursive: true });
    out = mkdtempSync(join(repoRoot, '.cache', 'harness-build-'));
    execFileSync(
      process.execPath,
      [join(repoRoot, 'node_modules', '@swc', 'cli', 'bin', 'swc.js'), 'libs', '-d', out, '--copy-files', '--quiet', '--ignore', '**/*.spec.ts,**/*.int.ts'],
      { cwd: repoRoot },
    );
  }, 120_000);

  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('runs from the TypeScript sources too (the cloud fixtures of the tests), in a process of its own', async () => {
    const s3 = await startS3Process({ buckets: ['from-source'] });
    try {
      expect(s3.pid).not.toBe(process.pid);
      const client = new Client(s3.clientOptions);
      await client.putObject('from-source', 'k', Buffer.from('typescript'), 10);
      const chunks: Buffer[] = [];
      for await (const chunk of await client.getObject('from-source', 'k')) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe('typescript');
    } finally {
      await s3.stop();
    }
    expect(() => process.kill(s3.pid, 0)).toThrow();
    expect(existsSync(s3.dir)).toBe(false);
  });

  it('serves S3 from a child process that stops, with its temp folder, on stop()', () => {
    const script = join(out, 'probe.js');
    writeFileSync(
      script,
      `
const { startS3Process } = require('./libs/harness/src');
const { Client } = require('minio');
(async () => {
  const s3 = await startS3Process({ buckets: ['probe'] });
  const client = new Client(s3.clientOptions);
  await client.putObject('probe', 'a/b.txt', Buffer.from('hello'), 5);
  const chunks = [];
  for await (const chunk of await client.getObject('probe', 'a/b.txt')) chunks.push(chunk);
  const alive = () => { try { process.kill(s3.pid, 0); return true; } catch { return false; } };
  const result = { notSelf: s3.pid !== process.pid, body: Buffer.concat(chunks).toString(), exists: await client.bucketExists('probe'), dir: s3.dir, aliveBefore: alive() };
  await s3.stop();
  await s3.stop();
  result.aliveAfter = alive();
  process.stdout.write(JSON.stringify(result));
})().catch((err) => { process.stderr.write(String(err && err.stack || err)); process.exit(1); });
`,
    );
    const result = JSON.parse(execFileSync(process.execPath, [script], { cwd: out, encoding: 'utf8', timeout: 60_000 })) as Record<string, unknown>;
    expect(result).toMatchObject({ notSelf: true, body: 'hello', exists: true, aliveBefore: true, aliveAfter: false });
    expect(existsSync(result.dir as string)).toBe(false);
  }, 90_000);
});
