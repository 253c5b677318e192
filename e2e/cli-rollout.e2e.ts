import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFixture, startCloudFixture } from '../apps/cloud/src/testing/cloud-fixture';
import { SimDevice } from '../apps/cloud/src/testing/sim-device';
import { baseFiles, makeHead, uploadForm } from '../apps/cloud/src/testing/upload-form';
import { runCli } from '../apps/cli/testing/run-cli';

/** `edgeloop devices …`, `deploy`, `rollback` against a real cloud and simulated devices on the embedded broker. */
describe('edgeloop CLI: devices, deploy, rollback', () => {
  let fx: CloudFixture;
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-cli-rollout-'));
  const env = () => ({ EDGELOOP_URL: fx.url, EDGELOOP_TOKEN: fx.adminToken, EDGELOOP_CLI_CONFIG: join(dir, 'cli.json') });
  const sims: SimDevice[] = [];

  beforeAll(async () => {
    fx = await startCloudFixture({ broker: 'embedded' });
    for (const seed of [1, 2]) {
      const res = await fx.api('/api/v1/models/m/versions', { method: 'POST', body: uploadForm({ ...baseFiles, head: makeHead(['a', 'b'], seed) }, { labels: ['a', 'b'] }) });
      expect(res.status).toBe(201);
    }
  }, 60_000);
  afterAll(async () => {
    for (const sim of sims) await sim.stop();
    await fx?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('provisions devices and prints their credentials once', async () => {
    for (const id of ['e1', 'e2']) {
      const res = await runCli(['devices', 'add', `camera ${id}`, '--id', id, '--group', 'hall', '--label', 'floor=1'], env());
      expect(res.code).toBe(0);
      const body = JSON.parse(res.stdout);
      expect(body.credentials.mqtt).toMatchObject({ username: id, clientId: id, password: expect.any(String) });
      const sim = new SimDevice({ id, mqttUrl: body.mqttUrl, password: body.credentials.mqtt.password, publicKeyPem: body.signingKey.publicKey });
      await sim.connect();
      sims.push(sim);
    }
    const bad = await runCli(['devices', 'add', 'x', '--label', 'nokey'], env());
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/not KEY=VALUE/);
  });

  it('deploys to a group and follows it to completion', async () => {
    const res = await runCli(['deploy', 'm@1', '--group', 'hall'], env());
    expect(res.stdout).toMatch(/deployment dep_\w+: m@1 to 2 device\(s\) \(all\)/);
    expect(res.stdout).toMatch(/: completed/);
    expect(res.code).toBe(0);
    const ls = await runCli(['devices', 'ls'], env());
    expect(ls.stdout).toMatch(/e1\tonline\thall\tm@1\tactive/);
  });

  it('runs a canary by selector, then rolls it back on request', async () => {
    const res = await runCli(['deploy', 'm@2', '--selector', 'floor=1', '--canary', '50', '--batch', '1', '--observe', '1s', '--json'], env());
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n');
    const final = JSON.parse(lines[lines.length - 1]);
    expect(final).toMatchObject({ status: 'completed', model: { version: 2 } });
    expect(final.devices.map((d: { batch: number }) => d.batch)).toEqual([0, 1]);
    const back = await runCli(['rollback', final.id, '--reason', 'checking rollback'], env());
    expect(back.stdout).toMatch(/rolled_back/);
    const deadline = Date.now() + 10_000;
    while (sims.some((s) => s.running?.version !== 1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(sims.map((s) => s.running?.version)).toEqual([1, 1]);
  });

  it('refuses a deploy without exactly one target', async () => {
    const res = await runCli(['deploy', 'm@1', '--group', 'hall', '--devices', 'e1'], env());
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/exactly one of --group, --devices, --selector/);
  });
});
