/** An error answer of the edgeloop API: the JSON error shape with its status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ApiClientOptions {
  baseUrl: string;
  token?: string;
  /** Per-request time limit; default 30 s. */
  timeoutMs?: number;
  /** Headers sent with every request (the dashboard sends its same-origin request header). */
  headers?: Record<string, string>;
  /** fetch's credentials mode; the dashboard uses `same-origin` so the session cookie goes along. */
  credentials?: 'omit' | 'same-origin' | 'include';
}

/** A small typed client of the REST API for the CLI, the edge worker and tests (plain fetch). */
export class ApiClient {
  readonly baseUrl: string;
  readonly token?: string;
  private readonly timeoutMs: number;
  private readonly fixedHeaders: Record<string, string>;
  private readonly credentials?: 'omit' | 'same-origin' | 'include';

  constructor(options: ApiClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.fixedHeaders = options.headers ?? {};
    this.credentials = options.credentials;
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...this.fixedHeaders, ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.url(path), {
        method,
        headers: this.headers(body === undefined || body instanceof FormData ? {} : { 'content-type': 'application/json' }),
        body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
        ...(this.credentials ? { credentials: this.credentials } : {}),
      });
    } catch (err) {
      throw new ApiError(0, 'unreachable', `cannot reach ${this.baseUrl}: ${(err as Error).message}`);
    }
    return readJson<T>(res);
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }
  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body ?? {});
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }
  delete(path: string): Promise<void> {
    return this.request<void>('DELETE', path);
  }
}

/** The body of a successful answer, or an ApiError carrying the API's error code and message. */
export async function readJson<T>(res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const error = body as { error?: string; message?: string; details?: unknown[] } | undefined;
    throw new ApiError(res.status, error?.error ?? `http_${res.status}`, error?.message ?? (text.slice(0, 200) || res.statusText), error?.details ?? []);
  }
  return body as T;
}
