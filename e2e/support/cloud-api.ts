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

  /**
   * Registers face-id@<next> with a head seeded by `seed`; returns the response (201, or the failure). With
   * `spreadMs`, the multipart body is sent in 64 KiB pieces spread evenly over that time, so a fault injected
   * meanwhile lands while the cloud is still receiving it (a whole upload takes well under a second here).
   */
  async upload(seed: number, labels = ['ann', 'ben'], spreadMs = 0): Promise<Response> {
    const form = uploadForm({ ...baseFiles, head: makeHead(labels, seed) }, { labels });
    if (spreadMs <= 0) return this.call('/api/v1/models/face-id/versions', { method: 'POST', body: form });
    const encoded = new Request('http://form.invalid/', { method: 'POST', body: form });
    const contentType = encoded.headers.get('content-type')!;
    const bytes = new Uint8Array(await encoded.arrayBuffer());
    const piece = 64 * 1024;
    const pieces = Math.ceil(bytes.length / piece);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent > 0) await sleep(spreadMs / pieces);
        controller.enqueue(bytes.subarray(sent * piece, (sent + 1) * piece));
        if (++sent === pieces) controller.close();
      },
    });
    const init: RequestInit & { duplex: 'half' } = {
      method: 'POST',
      body,
      duplex: 'half',
      headers: { 'content-type': contentType, 'content-length': String(bytes.length) },
    };
    return this.call('/api/v1/models/face-id/versions', init);
  }

  async deploy(model: string, group: string, strategy: unknown): Promise<string> {
    const body = await this.json<{ id: string }>('/api/v1/deployments', { method: 'POST', body: JSON.stringify({ model, target: { group }, strategy }) });
    return body.id;
  }

  deployment(id: string): Promise<{ status: string; reason?: string | null; devices: { deviceId: string; phase: string; reason?: string | null }[] }> {
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
