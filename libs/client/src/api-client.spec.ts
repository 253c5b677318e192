import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegisteredModelVersionSchema } from '@edgeloop/contracts';
import type { AddressInfo } from 'node:net';
import { ApiClient, ApiError, ApiResponseError } from './api-client';
import { EdgeloopApi } from './dashboard-api';
import { uploadMultipartParsed } from './multipart-upload';

/** A server that answers each `METHOD path` with the status and body the test set for it. */
function fakeApi(): { start(): Promise<string>; answer(route: string, status: number, body?: unknown): void; close(): Promise<void> } {
  const answers = new Map<string, { status: number; body?: unknown }>();
  let server: Server | undefined;
  return {
    answer: (route, status, body) => void answers.set(route, { status, body }),
    start: () =>
      new Promise((resolve) => {
        server = createServer((req, res) => {
          const found = answers.get(`${req.method} ${req.url}`);
          req.resume();
          if (!found) return void res.writeHead(599).end();
          res.writeHead(found.status, found.body === undefined ? {} : { 'content-type': 'application/json' });
          res.end(found.body === undefined ? undefined : typeof found.body === 'string' ? found.body : JSON.stringify(found.body));
        });
        server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server!.address() as AddressInfo).port}`));
      }),
    close: () => new Promise((resolve) => (server ? server.close(() => resolve()) : resolve())),
  };
}

const model = { name: 'face-id', latestVersion: 2, versions: 2, aliases: { production: 2 }, createdAt: '2026-12-05T10:00:00.000Z' };

describe('EdgeloopApi reads every answer with its contract', () => {
  const server = fakeApi();
  let api: EdgeloopApi;

  beforeAll(async () => {
    api = new EdgeloopApi(new ApiClient({ baseUrl: await server.start(), timeoutMs: 5000 }));
  });
  afterAll(() => server.close());

  async function failure(call: Promise<unknown>): Promise<unknown> {
    try {
      await call;
    } catch (err) {
      return err;
    }
    throw new Error('the call succeeded');
  }

  it('returns the parsed answer when it matches', async () => {
    server.answer('GET /api/v1/models', 200, { models: [model] });
    expect(await api.models()).toEqual([model]);
  });

  it('refuses an answer that does not match, naming the route and every bad field', async () => {
    server.answer('GET /api/v1/models', 200, { models: [{ ...model, versions: 'two', latestVersion: undefined }] });
    const err = await failure(api.models());
    expect(err).toBeInstanceOf(ApiResponseError);
    const { status, code, route, message, details } = err as ApiResponseError;
    expect({ status, code, route }).toEqual({ status: 200, code: 'invalid_response', route: 'GET /api/v1/models' });
    expect(message).toContain('GET /api/v1/models answered 200');
    expect(message).toContain('models[0].versions');
    expect(message).toContain('models[0].latestVersion');
    expect(details).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'models[0].versions' })]));
  });

  it('names the route without its query string', async () => {
    server.answer('GET /api/v1/devices?group=lobby', 200, { devices: [{ id: 'cam-1' }] });
    const err = (await failure(api.devices('lobby'))) as ApiResponseError;
    expect(err.route).toBe('GET /api/v1/devices');
    expect(err.message).toMatch(/^GET \/api\/v1\/devices answered 200 with a body that does not match its contract/);
  });

  it('refuses a success that is not JSON', async () => {
    server.answer('GET /api/v1/deployments/d1', 200, '<html>proxy login</html>');
    const err = (await failure(api.deployment('d1'))) as ApiResponseError;
    expect(err).toBeInstanceOf(ApiResponseError);
    expect(err.route).toBe('GET /api/v1/deployments/d1');
  });

  it('turns an error answer into an ApiError with the catalogue code, message and details', async () => {
    server.answer('GET /api/v1/identities/nobody', 404, { error: 'identity_not_found', message: 'identity nobody not found', details: [{ name: 'nobody' }] });
    const err = (await failure(api.identity('nobody'))) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err).not.toBeInstanceOf(ApiResponseError);
    expect({ status: err.status, code: err.code, message: err.message, details: err.details }).toEqual({
      status: 404,
      code: 'identity_not_found',
      message: 'identity nobody not found',
      details: [{ name: 'nobody' }],
    });
  });

  it('keeps an error answer that is not the error shape as http_<status> with its text', async () => {
    server.answer('GET /api/v1/webhooks', 502, 'Bad Gateway from the proxy');
    const err = (await failure(api.webhooks())) as ApiError;
    expect({ status: err.status, code: err.code, message: err.message }).toEqual({ status: 502, code: 'http_502', message: 'Bad Gateway from the proxy' });
  });

  it('expects no body from a 204 route', async () => {
    server.answer('DELETE /api/v1/webhooks/w1', 204);
    await expect(api.deleteWebhook('w1')).resolves.toBeUndefined();
    server.answer('DELETE /api/v1/webhooks/w2', 200, { deleted: true });
    const err = (await failure(api.deleteWebhook('w2'))) as ApiResponseError;
    expect({ code: err.code, route: err.route }).toEqual({ code: 'invalid_response', route: 'DELETE /api/v1/webhooks/w2' });
  });

  it('reads the answer of a multipart upload with the route schema too, naming the route and the status it got', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'client-spec-'));
    try {
      writeFileSync(join(dir, 'head.onnx'), 'head bytes');
      server.answer('POST /api/v1/models/face-id/versions', 201, { name: 'face-id', version: 3 });
      const err = (await failure(
        uploadMultipartParsed(api.client, '/api/v1/models/face-id/versions', RegisteredModelVersionSchema, [{ field: 'head', file: join(dir, 'head.onnx') }]),
      )) as ApiResponseError;
      expect(err).toBeInstanceOf(ApiResponseError);
      expect({ status: err.status, route: err.route }).toEqual({ status: 201, route: 'POST /api/v1/models/face-id/versions' });
      expect(err.message).toContain('manifest');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
