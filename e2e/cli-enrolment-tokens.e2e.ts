import type { CreateEnrolmentTokenResponse, EnrolmentTokenSummary } from '@edgeloop/contracts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCloudFixture, type CloudFixture } from '../apps/cloud/src/testing/cloud-fixture';
import { runCli } from '../apps/cli/testing/run-cli';

describe('edgeloop enrolment-tokens', () => {
  let fx: CloudFixture;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    fx = await startCloudFixture({ broker: 'embedded' });
    dir = mkdtempSync(join(tmpdir(), 'edgeloop-enrolment-cli-'));
    env = { EDGELOOP_URL: fx.url, EDGELOOP_TOKEN: fx.adminToken, EDGELOOP_CLI_CONFIG: join(dir, 'cli.json') };
  }, 120_000);

  afterAll(async () => {
    await fx?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('creates a token (printed once), lists it, a device enrols with it, and revokes it', async () => {
    const created = await runCli(['enrolment-tokens', 'create', '--group', 'doors', '--label', 'site=north', '--uses', '2', '--expires', '2h'], env);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    const token = JSON.parse(created.stdout) as CreateEnrolmentTokenResponse;
    expect(token).toMatchObject({ group: 'doors', labels: { site: 'north' }, maxUses: 2, uses: 0, state: 'active' });
    expect(Date.parse(token.expiresAt) - Date.now()).toBeGreaterThan(7100_000);

    const enrolled = await fx.api('/api/v1/devices/enrol', {
      method: 'POST',
      token: null,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: token.token, nonce: 'cli-test-nonce-0001', deviceId: 'cam-cli-1' }),
    });
    expect(enrolled.status).toBe(201);

    const listed = await runCli(['enrolment-tokens', 'ls'], env);
    expect(listed.stdout.trim()).toMatch(new RegExp(`^${token.id}\\tactive\\tdoors\\t1/2\\texpires \\S+\\tsite=north$`));
    expect(listed.stdout).not.toContain(token.token);

    const revoked = await runCli(['enrolment-tokens', 'revoke', token.id], env);
    expect(revoked).toMatchObject({ code: 0, stdout: `${token.id} revoked (1 device enrolled with it keep working)\n` });
    const json = JSON.parse((await runCli(['enrolment-tokens', 'ls', '--json'], env)).stdout) as EnrolmentTokenSummary[];
    expect(json).toEqual([expect.objectContaining({ id: token.id, state: 'revoked', devices: ['cam-cli-1'] })]);
  });

  it('refuses a bad lifetime or group before calling the cloud, and names an unknown token', async () => {
    const badLifetime = await runCli(['enrolment-tokens', 'create', '--group', 'doors', '--expires', 'soon'], env);
    expect(badLifetime.code).not.toBe(0);
    expect(badLifetime.stderr).toMatch(/"soon" is not a lifetime like 30m, 24h or 7d/);
    const badGroup = await runCli(['enrolment-tokens', 'create', '--group', 'Bad Group'], env);
    expect(badGroup.code).not.toBe(0);
    expect(badGroup.stderr).toMatch(/a group is 1-64 of a-z/);
    const unknown = await runCli(['enrolment-tokens', 'revoke', 'enr-000000000000'], env);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/enrolment token enr-000000000000 not found/);
    expect(JSON.parse((await runCli(['enrolment-tokens', 'ls', '--json'], env)).stdout)).toHaveLength(1);
  });
});
