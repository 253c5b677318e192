import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFixture, startCloudFixture } from '../apps/cloud/src/testing/cloud-fixture';
import { baseModelsDir, makeHead } from '../apps/cloud/src/testing/upload-form';
import { runCli } from '../apps/cli/testing/run-cli';

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('edgeloop CLI against a real cloud', () => {
  let fx: CloudFixture;
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-cli-'));
  const env = () => ({ EDGELOOP_CLI_CONFIG: join(dir, 'cli.json') });

  beforeAll(async () => {
    fx = await startCloudFixture();
  });
  afterAll(async () => {
    await fx?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to work before login, then logs in with a valid token only', async () => {
    const before = await runCli(['models', 'ls'], env());
    expect(before.code).not.toBe(0);
    expect(before.stderr).toMatch(/not logged in/);
    const bad = await runCli(['login', fx.url, '--token', 'elt_wrongwrongwrongwrongwrong'], env());
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/unknown or revoked/);
    const good = await runCli(['login', fx.url, '--token', fx.adminToken], env());
    expect(good.code).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'cli.json'), 'utf8'))).toEqual({ url: fx.url, token: fx.adminToken });
  });

  it('pushes a bundle with roles from names and ROLE=PATH, lists, shows and aliases it', async () => {
    const headFile = join(dir, 'head.onnx');
    writeFileSync(headFile, makeHead(['ann', 'ben']));
    writeFileSync(join(dir, 'm.json'), JSON.stringify({ labels: ['ann', 'ben'], thresholds: { detection: 0.8, match: 0.5 } }));
    const push = await runCli(
      ['models', 'push', 'cli-model', join(baseModelsDir, 'fr_detect.onnx'), join(baseModelsDir, 'fr_landmark.onnx'), `embedder=${join(baseModelsDir, 'fr_feature.onnx')}`, `head=${headFile}`, '--manifest', join(dir, 'm.json')],
      env(),
    );
    expect(push.stderr).toMatch(/push cli-model .*100%/);
    expect(push.code).toBe(0);
    expect(push.stdout).toMatch(/registered cli-model@1/);
    const ls = await runCli(['models', 'ls'], env());
    expect(ls.stdout).toMatch(/cli-model\tlatest 1\t1 versions/);
    expect((await runCli(['models', 'alias', 'cli-model', 'production', '1'], env())).code).toBe(0);
    const show = await runCli(['models', 'show', 'cli-model@production'], env());
    const shown = JSON.parse(show.stdout);
    expect(shown).toMatchObject({ version: 1, aliases: ['production'], manifest: { labels: ['ann', 'ben'], thresholds: { match: 0.5 } } });
  });

  it('a push with an unknown role fails with a clear message and registers nothing', async () => {
    const res = await runCli(['models', 'push', 'cli-model', join(dir, 'm.json')], env());
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/cannot tell the role/);
    const bad = await runCli(['models', 'push', 'cli-model', `embedder=${join(baseModelsDir, 'fr_landmark.onnx')}`], env());
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/do not fit their roles/);
    expect((await runCli(['models', 'ls', 'cli-model'], env())).stdout.trim().split('\n')).toHaveLength(1);
  });

  it('pulls a version, verifying the signature and every sha256, and resumes a partial file', async () => {
    const out = join(dir, 'pulled');
    const first = await runCli(['models', 'pull', 'cli-model@production', out], env());
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/signature and 4 sha256 sums verified/);
    expect(sha256(join(out, 'embedder.onnx'))).toBe(sha256(join(baseModelsDir, 'fr_feature.onnx')));
    // a partial download left behind is resumed, not restarted
    const again = join(dir, 'again');
    await runCli(['models', 'pull', 'cli-model@1', again], env());
    const embedder = readFileSync(join(again, 'embedder.onnx'));
    rmSync(join(again, 'embedder.onnx'));
    writeFileSync(join(again, 'embedder.onnx.part'), embedder.subarray(0, 1_000_000));
    const resumed = await runCli(['models', 'pull', 'cli-model@1', again], env());
    expect(resumed.code).toBe(0);
    expect(sha256(join(again, 'embedder.onnx'))).toBe(sha256(join(baseModelsDir, 'fr_feature.onnx')));
    // a corrupted partial file is caught by its sha256, never installed, discarded and fetched again from byte 0
    writeFileSync(join(again, 'detector.onnx.part'), Buffer.alloc(1000, 1));
    rmSync(join(again, 'detector.onnx'));
    const corrupted = await runCli(['models', 'pull', 'cli-model@1', again], env());
    expect(corrupted.code).toBe(0);
    expect(sha256(join(again, 'detector.onnx'))).toBe(sha256(join(baseModelsDir, 'fr_detect.onnx')));
    expect(existsSync(join(again, 'detector.onnx.part'))).toBe(false);
  });

  it('refuses a version whose signature does not verify with the trusted key', async () => {
    const other = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString();
    writeFileSync(join(dir, 'other.pem'), other);
    const res = await runCli(['models', 'pull', 'cli-model@1', join(dir, 'untrusted'), '--public-key', join(dir, 'other.pem')], env());
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/no valid signature/);
  });
});
