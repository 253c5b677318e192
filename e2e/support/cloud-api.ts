import { baseFiles, makeHead, uploadForm } from '../../apps/cloud/src/testing/upload-form';

/** The REST calls the multi-process tests make, against any replica (they are interchangeable). */
export class CloudApi {
  constructor(
    private readonly urls: () => string[],
    private readonly token: string,
  ) {}

  /** One request to the first replica that answers (a killed one refuses the connection). */
  async call(path: string, init: RequestInit = {}): Promise<Response> {
    let last: unknown;
    for (const url of this.urls()) {
      try {
        const headers = new Headers(init.headers);
        headers.set('authorization', `Bearer ${this.token}`);
        if (typeof init.body === 'string') headers.set('content-type', 'application/json');
        return await fetch(`${url}${path}`, { ...init, headers, signal: AbortSignal.timeout(30_000) });
      } catch (err) {
        last = err;
      }
    }
    throw new Error(`no replica answered ${path}: ${(last as Error)?.message}`);
  }

  async json<T = any>(path: string, init: RequestInit = {}): Promise<T> {
    const res = await this.call(path, init);
    const text = await res.text();
    if (res.status >= 400) throw new Error(`${init.method ?? 'GET'} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  }

  /** Registers face-id@<next> with a head seeded by `seed`; returns the response (201, or the failure). */
  upload(seed: number, labels = ['ann', 'ben']): Promise<Response> {
    return this.call('/api/v1/models/face-id/versions', { method: 'POST', body: uploadForm({ ...baseFiles, head: makeHead(labels, seed) }, { labels }) });
  }

  async deploy(model: string, group: string, strategy: unknown): Promise<string> {
    const body = await this.json<{ id: string }>('/api/v1/deployments', { method: 'POST', body: JSON.stringify({ model, target: { group }, strategy }) });
    return body.id;
  }

  deployment(id: string): Promise<{ status: string; devices: { deviceId: string; phase: string }[] }> {
    return this.json(`/api/v1/deployments/${id}`);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until `ok` or the time is up; throws with the last value. */
export async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs: number, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let error: unknown;
  for (;;) {
    try {
      last = await probe();
      if (ok(last)) return last;
    } catch (err) {
      error = err;
    }
    if (Date.now() > deadline)
      throw new Error(`${what} not met within ${timeoutMs} ms; last: ${JSON.stringify(last)?.slice(0, 600) ?? (error as Error)?.message}`);
    await sleep(300);
  }
}

export const FINISHED = (d: { status: string }): boolean => !['pending', 'in_progress', 'rolling_back'].includes(d.status);
