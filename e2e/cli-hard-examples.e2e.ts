import { topics } from '@edgeloop/contracts';
import mqtt, { type MqttClient } from 'mqtt';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFixture, startCloudFixture } from '../apps/cloud/src/testing/cloud-fixture';
import { runCli } from '../apps/cli/testing/run-cli';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `edgeloop hard-examples ls|label` against a real cloud (embedded broker, Redis, S3-protocol server, SQL):
 * two devices publish hard examples over MQTT as the edge does, the ingest stores them, the CLI lists and labels them.
 */
describe('edgeloop CLI: hard-examples', () => {
  let fx: CloudFixture;
  const clients: MqttClient[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-cli-hard-examples-'));
  const env = () => ({ EDGELOOP_URL: fx.url, EDGELOOP_TOKEN: fx.adminToken, EDGELOOP_CLI_CONFIG: join(dir, 'cli.json') });
  const post = (path: string, body: unknown) => fx.api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const cli = (...args: string[]) => runCli(args, env());
  /** `ls --json` as the API shape. */
  const list = async (...args: string[]): Promise<Array<{ id: string; deviceId: string; model: { name: string; version: number }; label: unknown }>> => {
    const res = await cli('hard-examples', 'ls', '--json', ...args);
    expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 0, stderr: '' });
    return JSON.parse(res.stdout);
  };

  const example = (deviceId: string, id: string, model: { name: string; version: number }, ts: number) => ({
    v: 1,
    deviceId,
    id,
    ts,
    model,
    reason: 'unknown',
    candidate: 'ann',
    score: 0.21,
    margin: 0.03,
    detScore: 0.97,
    embedding: Array.from({ length: 512 }, (_, i) => Math.cos(i + ts) / 16),
  });

  beforeAll(async () => {
    fx = await startCloudFixture({ broker: 'embedded' });
    const sent: Array<[string, string, { name: string; version: number }]> = [
      ...[1, 2, 3, 4, 5].map((n): [string, string, { name: string; version: number }] => ['cam-a', `a${n}`, { name: 'face-id', version: 1 }]),
      ['cam-b', 'b1', { name: 'face-id', version: 2 }],
      ['cam-b', 'b2', { name: 'other', version: 1 }],
    ];
    for (const deviceId of ['cam-a', 'cam-b']) {
      const res = await post('/api/v1/devices', { id: deviceId, name: deviceId, group: 'lab' });
      expect(res.status).toBe(201);
      const body = (await res.json()) as { credentials: { mqtt: { password: string } } };
      const client = await mqtt.connectAsync(fx.mqttUrl!, { clientId: deviceId, username: deviceId, password: body.credentials.mqtt.password });
      client.on('error', () => undefined);
      clients.push(client);
    }
    const stored = async () => ((await (await fx.api('/api/v1/hard-examples')).json()) as { hardExamples: unknown[] }).hardExamples.length;
    const start = Date.now();
    for (const [i, [deviceId, id, model]] of sent.entries()) {
      const client = clients[deviceId === 'cam-a' ? 0 : 1];
      await client.publishAsync(topics.hardExamples(deviceId), JSON.stringify(example(deviceId, id, model, start + i)), { qos: 1 });
      // the list is ordered by arrival: wait for each before sending the next
      const deadline = Date.now() + 20_000;
      while ((await stored()) < i + 1) {
        if (Date.now() > deadline) throw new Error(`hard example ${id} did not arrive`);
        await sleep(50);
      }
    }
    expect((await post('/api/v1/identities', { name: 'ann' })).status).toBe(201);
  }, 180_000);

  afterAll(async () => {
    for (const client of clients) await client.endAsync();
    await fx?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists hard examples newest first, one tab-separated line each', async () => {
    const res = await cli('hard-examples', 'ls');
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n');
    expect(lines.map((l) => l.split('\t')[0])).toEqual(['cam-b.b2', 'cam-b.b1', 'cam-a.a5', 'cam-a.a4', 'cam-a.a3', 'cam-a.a2', 'cam-a.a1']);
    expect(lines[0].split('\t')).toEqual([
      'cam-b.b2',
      'cam-b',
      'other@1',
      'unknown',
      'ann',
      '0.210',
      '0.030',
      '-',
      'no-crop',
      expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    ]);
  }, 120_000);

  it('filters by device, by model and version, and pages', async () => {
    expect((await list('--device', 'cam-b')).map((e) => e.id)).toEqual(['cam-b.b2', 'cam-b.b1']);
    expect((await list('--model', 'face-id', '--device', 'cam-b')).map((e) => e.id)).toEqual(['cam-b.b1']);
    expect((await list('--model', 'face-id@1')).map((e) => e.id)).toEqual(['cam-a.a5', 'cam-a.a4', 'cam-a.a3', 'cam-a.a2', 'cam-a.a1']);
    const page = await cli('hard-examples', 'ls', '--device', 'cam-a', '--limit', '2', '--page', '2');
    expect(
      page.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('\t')[0]),
    ).toEqual(['cam-a.a3', 'cam-a.a2']);
    expect(page.stderr).toBe('more: --page 3\n');
  }, 120_000);

  it('refuses bad options with a clear message before calling the cloud', async () => {
    const limit = await cli('hard-examples', 'ls', '--limit', '0');
    expect(limit.code).not.toBe(0);
    expect(limit.stderr).toMatch(/--limit.*expected a whole number from 1 to 1000/);
    const model = await cli('hard-examples', 'ls', '--model', 'face-id@production');
    expect(model.code).not.toBe(0);
    expect(model.stderr).toMatch(/expected NAME or NAME@VERSION/);
    const window = await cli('hard-examples', 'ls', '--limit', '500', '--page', '3');
    expect(window.code).toBe(1);
    expect(window.stderr).toBe('edgeloop: --page 3 with --limit 500 reaches past the newest 1000; narrow with --device, --model or --reason\n');
  }, 120_000);

  it('labels with an identity, all or nothing: an unknown identity or id labels nothing', async () => {
    const nobody = await cli('hard-examples', 'label', 'cam-a.a1', '--identity', 'nobody');
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toBe('edgeloop: identity "nobody" not found; nothing was labelled (create it with `edgeloop identities add nobody`)\n');
    const missing = await cli('hard-examples', 'label', 'cam-a.a1', 'cam-a.nope', '--identity', 'ann');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('edgeloop: hard example "cam-a.nope" not found; nothing was labelled\n');
    expect(await list('--labelled')).toEqual([]);

    const ok = await cli('hard-examples', 'label', 'cam-a.a1', 'cam-a.a2', 'cam-a.a1', '--identity', 'ann');
    expect({ code: ok.code, stdout: ok.stdout, stderr: ok.stderr }).toEqual({ code: 0, stdout: 'labelled 2 hard examples ann\n', stderr: '' });
    const labelled = await list('--labelled');
    expect(labelled.map((e) => [e.id, e.label])).toEqual([
      ['cam-a.a2', expect.objectContaining({ verdict: 'identity', identity: 'ann' })],
      ['cam-a.a1', expect.objectContaining({ verdict: 'identity', identity: 'ann' })],
    ]);
  }, 120_000);

  it('labels as not a face and as a confirmed unknown; the queue shrinks accordingly', async () => {
    const notAFace = await cli('hard-examples', 'label', 'cam-a.a3', '--not-a-face');
    expect({ code: notAFace.code, stdout: notAFace.stdout }).toEqual({ code: 0, stdout: 'labelled 1 hard example not a face\n' });
    const stranger = await cli('hard-examples', 'label', 'cam-b.b1', '--unknown', '--json');
    expect(stranger.code).toBe(0);
    expect(JSON.parse(stranger.stdout)).toEqual({ labelled: 1, label: { verdict: 'unknown' } });

    expect((await list('--unlabelled')).map((e) => e.id)).toEqual(['cam-b.b2', 'cam-a.a5', 'cam-a.a4']);
    const labelled = await cli('hard-examples', 'ls', '--labelled');
    expect(
      labelled.stdout
        .trim()
        .split('\n')
        .map((l) => `${l.split('\t')[0]} ${l.split('\t')[7]}`),
    ).toEqual(['cam-b.b1 unknown', 'cam-a.a3 not-a-face', 'cam-a.a2 ann', 'cam-a.a1 ann']);
  }, 120_000);

  it('asks for exactly one verdict', async () => {
    for (const args of [['cam-a.a4'], ['cam-a.a4', '--identity', 'ann', '--unknown']]) {
      const res = await cli('hard-examples', 'label', ...args);
      expect(res.code).toBe(1);
      expect(res.stderr).toBe('edgeloop: say what the faces are: exactly one of --identity <name>, --not-a-face or --unknown\n');
    }
    expect((await list('--unlabelled')).map((e) => e.id)).toContain('cam-a.a4');
  }, 120_000);
});
