import { decodeDeviceMessage, DEVICE_PUBLISH_KINDS, deviceTopic, statusMessage, type ProvisionDeviceResponse } from '@edgeloop/contracts';
import fc from 'fast-check';
import mqtt from 'mqtt';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { startCloudFixture, type CloudFixture } from '../testing/cloud-fixture';
import { makeBatch, STABLE } from '../testing/prediction-batches';
import { makeHead } from '../testing/upload-form';

/**
 * Hostile input against a running cloud (embedded broker, Redis, S3, PGlite), with fast-check:
 * - garbage on every topic a device may publish is counted (`edgeloop_mqtt_messages{outcome="invalid"}`) and
 *   dead-lettered (`edgeloop_dead_letters{outcome="received"}`), one for one, and the cloud stays up;
 * - every write route of the OpenAPI document, and the query of every read route, answers random bodies and
 *   queries with a JSON 4xx, never a 5xx, and makes nothing;
 * - the multipart upload answers truncated, oversized, mis-bounded, duplicated, random and slow-loris bodies
 *   with a 4xx or by dropping the connection, registers nothing (GET /models) and its RSS stays bounded.
 * Runs per property: EDGELOOP_FUZZ_RUNS (default 15), seed EDGELOOP_FUZZ_SEED, time bound per property
 * EDGELOOP_FUZZ_SECONDS; `bench/fuzz/run.ts` is the long form.
 */
const RUNS = Number(process.env.EDGELOOP_FUZZ_RUNS ?? 15);
const SEED = Number(process.env.EDGELOOP_FUZZ_SEED ?? 20261205);
const SLOW_LORIS_MS = Number(process.env.EDGELOOP_FUZZ_SLOW_LORIS_MS ?? 4000);
/** Long form: a time bound per property (0 = none), and test timeouts that grow with the runs. */
const SECONDS = Number(process.env.EDGELOOP_FUZZ_SECONDS ?? 0);
const SCALE = Math.max(1, RUNS / 15);
const timeUp = (started: number) => SECONDS > 0 && Date.now() - started > SECONDS * 1000;
/** Largest upload the fixture takes; bodies above it must be refused while streaming, not buffered. */
const UPLOAD_LIMIT = 2 * 1024 * 1024;
/** How much the process (this test and the cloud in it) may grow over the whole run. */
const RSS_GROWTH_BOUND = 256 * 1024 * 1024;
const DEVICE = 'cam-fuzz';
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('hostile input against a running cloud', () => {
  let fx: CloudFixture;
  let password: string;
  let rssAtStart = 0;
  // the peak of the test in progress: a test's own allocations (the garbage case makes its 600 KB payloads up
  // front) must not count against a later test's claim that it buffered nothing
  let testRssAtStart = 0;
  let testRssPeak = 0;
  const sampler = setInterval(() => (testRssPeak = Math.max(testRssPeak, process.memoryUsage().rss)), 100);
  beforeEach(() => {
    testRssAtStart = testRssPeak = process.memoryUsage().rss;
  });

  beforeAll(async () => {
    fx = await startCloudFixture({
      broker: 'embedded',
      env: { EDGELOOP_QUOTAS_ENABLED: 'false', EDGELOOP_QUARANTINE_STRIKES: '0', EDGELOOP_MAX_UPLOAD_BYTES: String(UPLOAD_LIMIT) },
    });
    const res = await fx.api('/api/v1/devices', {
      method: 'POST',
      body: JSON.stringify({ id: DEVICE, name: DEVICE }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(201);
    password = ((await res.json()) as ProvisionDeviceResponse).credentials.mqtt.password;
    rssAtStart = process.memoryUsage().rss;
  }, 90_000);
  afterAll(async () => {
    clearInterval(sampler);
    await fx?.stop();
  });

  const metric = async (pattern: RegExp): Promise<number> => {
    const text = await (await fetch(`${fx.url}/metrics`)).text();
    return text
      .split('\n')
      .filter((line) => pattern.test(line))
      .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
  };
  const healthy = async () => expect((await fetch(`${fx.url}/api/v1/health/live`)).status).toBe(200);

  it(
    'counts and dead-letters garbage on every device topic, one for one, and stays up',
    async () => {
      // near misses: one byte of a message changed (the first two are valid messages)
      const valid: Record<string, unknown> = {
        status: statusMessage('online', Date.now()),
        predictions: makeBatch(DEVICE, 1, { name: 'face-id', version: 1 }, STABLE, { frames: 3 }),
        reported: { v: 1, deviceId: DEVICE, ts: Date.now(), state: 'active' },
        'hard-examples': { v: 1, deviceId: DEVICE, id: 'hx_1', ts: Date.now(), reason: 'unknown' },
      };
      const garbage = fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 2048 }).map((b) => Buffer.from(b)),
        fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
        fc.constantFrom('{', '[]', 'null', '""', '{"v":2}', `{"v":1,"deviceId":"cam-other"}`).map((s) => Buffer.from(s)),
      );
      const invalidBefore = await metric(/^edgeloop_mqtt_messages\{outcome="invalid"\}/);
      const deadBefore = await metric(/^edgeloop_dead_letters\{.*outcome="received"\}/);
      const client = await mqtt.connectAsync(fx.mqttUrl!, { clientId: DEVICE, username: DEVICE, password, reconnectPeriod: 0 });
      let sent = 0;
      const started = Date.now();
      for (const kind of DEVICE_PUBLISH_KINDS) {
        const topic = deviceTopic(DEVICE, kind);
        const payloads = fc.sample(
          fc.oneof(
            garbage,
            fc.constant(Buffer.alloc(600 * 1024, 0x20)), // over every device topic's byte limit, under the packet limit
            fc.tuple(fc.nat(4000), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => {
              const bytes = Buffer.from(JSON.stringify(valid[kind]));
              bytes[at % bytes.length] = byte;
              return bytes;
            }),
          ),
          { numRuns: RUNS * 2, seed: SEED },
        );
        for (const payload of payloads) {
          if (timeUp(started)) break;
          if (decodeDeviceMessage(topic, payload).ok) continue; // a flip that still decodes is not garbage
          await client.publishAsync(topic, payload, { qos: 1 });
          sent++;
        }
      }
      await client.endAsync();
      expect(sent).toBeGreaterThan(SECONDS > 0 ? 0 : RUNS * 4);
      const deadline = Date.now() + 20_000;
      while ((await metric(/^edgeloop_dead_letters\{.*outcome="received"\}/)) - deadBefore < sent && Date.now() < deadline) await sleep(200);
      expect((await metric(/^edgeloop_mqtt_messages\{outcome="invalid"\}/)) - invalidBefore).toBe(sent);
      expect((await metric(/^edgeloop_dead_letters\{.*outcome="received"\}/)) - deadBefore).toBe(sent);
      await healthy();
      process.stdout.write(`garbage on device topics: ${sent} messages, each counted invalid and dead-lettered\n`);
    },
    120_000 * SCALE,
  );

  it(
    'answers random bodies on every write route and random queries on every read route with a JSON 4xx, and makes nothing',
    async () => {
      const doc = (await (await fetch(`${fx.url}/api/docs-json`)).json()) as { paths: Record<string, Record<string, unknown>> };
      const operations = Object.entries(doc.paths).flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((method) => ({ method, path })));
      const lists = [
        '/api/v1/models',
        '/api/v1/devices',
        '/api/v1/deployments',
        '/api/v1/webhooks',
        '/api/v1/identities',
        '/api/v1/tokens',
        '/api/v1/enrolment-tokens',
        '/api/v1/retraining/jobs',
        '/api/v1/quotas',
      ];
      // what every list holds, less the time a token was last used (the fuzzing itself uses the admin token)
      const snapshot = async () =>
        Promise.all(lists.map(async (path) => `${path} ${(await (await fx.api(path)).text()).replace(/"lastUsedAt":"[^"]*"/g, '')}`));
      const before = await snapshot();

      const body = fc.oneof(
        fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null'),
        fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 }).map((v) => JSON.stringify(v)),
        fc.string({ maxLength: 200 }), // not JSON
        fc.constantFrom(
          '{"__proto__":{"admin":true}}',
          '{"constructor":{"prototype":{"x":1}}}',
          `[${'['.repeat(5000)}${']'.repeat(5000)}]`,
          `{"a":"${'x'.repeat(300_000)}"}`,
        ),
      );
      const query = fc.dictionary(
        fc.constantFrom('limit', 'offset', 'cursor', 'from', 'to', 'since', 'device', 'model', 'version', 'bucket', 'status', 'code', 'group', 'q', 'x'),
        fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('-1', '0', '1e309', 'NaN', '99999999999999999999', '2026-13-45', '../../etc', '%00')),
        { maxKeys: 4 },
      );
      const fill = (path: string) =>
        path.replace(/\{([^}]+)\}/g, (_m, name: string) => (/sha256/i.test(name) ? '0'.repeat(64) : `no-such-${name.toLowerCase()}`));
      const failures: string[] = [];
      const made: string[] = [];
      let requests = 0;
      const started = Date.now();
      for (const op of operations) {
        if (op.path.endsWith('/events') || (op.method === 'post' && op.path === '/api/v1/models/{name}/versions')) continue; // SSE stream; multipart below
        const write = op.method !== 'get';
        const samples = fc.sample(fc.tuple(body, query), { numRuns: write ? RUNS : Math.ceil(RUNS / 2), seed: SEED });
        for (const [text, params] of samples) {
          if (timeUp(started)) break;
          const url = `${fx.url}${fill(op.path)}?${new URLSearchParams(params as Record<string, string>).toString()}`;
          const res = await fetch(url, {
            method: op.method.toUpperCase(),
            headers: { authorization: `Bearer ${fx.adminToken}`, ...(write ? { 'content-type': 'application/json' } : {}) },
            body: write && op.method !== 'delete' ? text : undefined,
            signal: AbortSignal.timeout(15_000),
          });
          requests++;
          const answer = await res.text();
          const label = `${op.method.toUpperCase()} ${op.path} ?${new URLSearchParams(params as Record<string, string>).toString().slice(0, 80)} body ${text.slice(0, 60)}`;
          if (res.status >= 500) failures.push(`${res.status} ${label}: ${answer.slice(0, 200)}`);
          else if (res.status >= 400 && !/^\{"error":"[a-z_]+"/.test(answer))
            failures.push(`${res.status} without a JSON error: ${label}: ${answer.slice(0, 120)}`);
          else if (write && res.status < 300) made.push(`${op.method.toUpperCase()} ${op.path}`);
        }
      }
      expect(requests).toBeGreaterThan(SECONDS > 0 ? 0 : operations.length * Math.ceil(RUNS / 2));
      expect(failures).toEqual([]);
      // The writes a random body may complete: a sign-in code for the caller (no body; it changes no list), and
      // a group's quota override, whose every field is optional (`{}` is a whole one), removed again here.
      const completable = ['POST /api/v1/sessions/links', 'PUT /api/v1/quotas/groups/{group}', 'DELETE /api/v1/quotas/groups/{group}'];
      expect([...new Set(made)].filter((route) => !completable.includes(route))).toEqual([]);
      await fx.api(`/api/v1/quotas/groups/${fill('{group}')}`, { method: 'DELETE' });
      expect(await snapshot()).toEqual(before);
      await healthy();
      process.stdout.write(
        `random bodies and queries: ${requests} requests on ${operations.length} operations, no 5xx, ${made.length} writes completed (${[...new Set(made)].join(', ') || 'none'})\n`,
      );
    },
    300_000 * SCALE,
  );

  describe('multipart upload', () => {
    const path = '/api/v1/models/fuzz-model/versions';
    const head = makeHead(['ann', 'ben']);
    const part = (boundary: string, name: string, bytes: Buffer, filename = `${name}.onnx`) =>
      Buffer.concat([
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
        ),
        bytes,
        Buffer.from('\r\n'),
      ]);
    const form = (boundary: string, parts: Buffer[]) => Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]);
    const validForm = (boundary: string) => form(boundary, [part(boundary, 'head', head)]);

    /** Sends raw bytes; the status, or 'dropped' when the cloud closes the connection without answering. */
    const send = (body: Buffer | Iterable<Buffer>, headers: Record<string, string | number>): Promise<number | 'dropped'> =>
      new Promise((resolve) => {
        const req = request(`${fx.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${fx.adminToken}`, ...headers } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', () => resolve('dropped'));
        });
        req.on('error', () => resolve('dropped'));
        const chunks = Buffer.isBuffer(body) ? [body] : body;
        const pump = async () => {
          for (const chunk of chunks) if (!req.destroyed && !req.write(chunk)) await new Promise((r) => req.once('drain', r));
          req.end();
        };
        void pump();
      });
    const models = async () => (await fx.api('/api/v1/models')).text();
    let modelsBefore: string;
    beforeAll(async () => {
      modelsBefore = await models();
    });
    afterAll(async () => {
      expect(await models()).toBe(modelsBefore);
    });

    const refused = (status: number | 'dropped') => status === 'dropped' || (status >= 400 && status < 500);

    it(
      'refuses truncated, mis-bounded, duplicated, unknown and random multipart bodies',
      async () => {
        const b = 'fuzzboundary1234';
        const valid = validForm(b);
        const cases: Array<[string, Buffer, string]> = [
          ['duplicate parts', form(b, [part(b, 'head', head), part(b, 'head', head)]), `multipart/form-data; boundary=${b}`],
          ['wrong boundary', valid, 'multipart/form-data; boundary=another-boundary'],
          ['no boundary', valid, 'multipart/form-data'],
          ['not multipart', valid, 'application/json'],
          ['unknown role', form(b, [part(b, 'backdoor', head)]), `multipart/form-data; boundary=${b}`],
          [
            'a field that is not the manifest',
            form(b, [Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n`)]),
            `multipart/form-data; boundary=${b}`,
          ],
          ['no closing boundary', valid.subarray(0, valid.length - 10), `multipart/form-data; boundary=${b}`],
          ['an invalid ONNX file', form(b, [part(b, 'head', Buffer.from('not an onnx model at all'))]), `multipart/form-data; boundary=${b}`],
          ['an empty body', Buffer.alloc(0), `multipart/form-data; boundary=${b}`],
        ];
        const answers: string[] = [];
        for (const [name, body, type] of cases) {
          const status = await send(body, { 'content-type': type, 'content-length': body.length });
          answers.push(`${name}: ${refused(status) ? 'refused' : status}`);
        }
        expect(answers).toEqual(cases.map(([name]) => `${name}: refused`));

        const mutated = fc.sample(
          fc.oneof(
            fc.nat(valid.length - 1).map((cut) => valid.subarray(0, cut)),
            fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }).map((flips) => {
              const bytes = Buffer.from(valid);
              for (const [at, byte] of flips) bytes[at] = byte;
              return bytes;
            }),
            fc.uint8Array({ maxLength: 4096 }).map((bytes) => Buffer.from(bytes)),
          ),
          { numRuns: RUNS * 2, seed: SEED },
        );
        const accepted: number[] = [];
        const started = Date.now();
        for (const body of mutated) {
          if (timeUp(started)) break;
          const status = await send(body, { 'content-type': `multipart/form-data; boundary=${b}`, 'content-length': body.length });
          // a flip inside the head's float weights can leave a valid model: then it registers as a new version
          if (!refused(status)) accepted.push(status as number);
        }
        expect(accepted.filter((status) => status !== 201)).toEqual([]);
        if (accepted.length > 0) modelsBefore = await models(); // versions of a whole, valid model; nothing half-made
        await healthy();
      },
      180_000 * SCALE,
    );

    it('refuses a body over the upload limit while it streams, without buffering it', async () => {
      const b = 'fuzzboundary5678';
      const chunk = Buffer.alloc(1024 * 1024, 7);
      const chunks = function* () {
        yield Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="head"; filename="head.onnx"\r\n\r\n`);
        for (let i = 0; i < 64; i++) yield chunk; // 64 MiB against a 2 MiB limit
      };
      const status = await send(chunks(), { 'content-type': `multipart/form-data; boundary=${b}`, 'transfer-encoding': 'chunked' });
      expect(refused(status)).toBe(true);
      if (status !== 'dropped') expect(status).toBe(413);
      // buffered, the body alone would be 64 MiB
      expect(testRssPeak - testRssAtStart).toBeLessThan(64 * 1024 * 1024);
      await healthy();
    }, 120_000);

    it(
      'stays responsive under slow-loris uploads and registers nothing when they give up',
      async () => {
        const b = 'slowloris';
        const sockets: Socket[] = [];
        const closedByCloud: boolean[] = [];
        const answers: string[] = [];
        for (let i = 0; i < 8; i++) {
          const url = new URL(fx.url);
          const socket = connect(Number(url.port), url.hostname);
          socket.on('error', () => undefined);
          const index = sockets.push(socket) - 1;
          closedByCloud[index] = false;
          socket.on('data', (d) => answers.push(d.toString().split('\r\n')[0]!));
          socket.on('close', () => (closedByCloud[index] = true));
          socket.write(
            `POST ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${fx.adminToken}\r\nContent-Type: multipart/form-data; boundary=${b}\r\nContent-Length: 1000000\r\n\r\n--${b}\r\nContent-Disposition: form-data; name="head"; filename="h.onnx"\r\n\r\n`,
          );
        }
        const started = Date.now();
        let worstLatency = 0;
        while (Date.now() - started < SLOW_LORIS_MS) {
          for (const socket of sockets) if (!socket.destroyed) socket.write(head.subarray(0, 1));
          const t0 = performance.now();
          await healthy();
          worstLatency = Math.max(worstLatency, performance.now() - t0);
          await sleep(250);
        }
        expect(worstLatency).toBeLessThan(2000);
        const closedEarly = closedByCloud.filter(Boolean).length;
        for (const socket of sockets) socket.destroy();
        await sleep(500);
        await healthy();
        expect(testRssPeak - testRssAtStart).toBeLessThan(RSS_GROWTH_BOUND);
        process.stdout.write(
          `slow-loris: ${closedEarly}/8 connections closed by the cloud within ${SLOW_LORIS_MS} ms (${answers.join(', ')}); RSS peak +${Math.round((testRssPeak - testRssAtStart) / 2 ** 20)} MiB\n`,
        );
      },
      SLOW_LORIS_MS + 120_000,
    );
  });

  it('keeps nothing of the hostile input: RSS after every case within the bound of the start', async () => {
    await sleep(1000);
    const grown = process.memoryUsage().rss - rssAtStart;
    process.stdout.write(`RSS after the hostile input: +${Math.round(grown / 2 ** 20)} MiB\n`);
    expect(grown).toBeLessThan(RSS_GROWTH_BOUND);
  });
});
