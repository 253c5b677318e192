import { describeZodError, ErrorBodySchema, fieldIssues } from '@edgeloop/contracts';
import type { z } from 'zod';

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

/**
 * A successful answer whose body is not what the contract says the route answers (`code`
 * `invalid_response`, one detail per bad field): the client and the server disagree on the contract.
 */
export class ApiResponseError extends ApiError {
  constructor(
    status: number,
    readonly route: string,
    message: string,
    details: unknown[],
  ) {
    super(status, 'invalid_response', message, details);
    this.name = 'ApiResponseError';
  }
}

/** `GET /api/v1/models/{name}` for `GET /api/v1/models/face-id?x=1`: the method and the path without its query. */
export function routeOf(method: string, path: string): string {
  return `${method.toUpperCase()} ${path.replace(/[?#].*$/s, '')}`;
}

/** The body of a successful answer read with the route's response schema, or an ApiResponseError naming the route. */
export function parseAnswer<S extends z.ZodType>(schema: S, body: unknown, route: string, status: number): z.output<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw new ApiResponseError(
    status,
    route,
    `${route} answered ${status} with a body that does not match its contract (@edgeloop/contracts): ${describeZodError(parsed.error)}`,
    fieldIssues(parsed.error),
  );
}

/** The ApiError of an error answer: the API's error shape when it sent one, else `http_<status>` with the text. */
export function errorOf(status: number, statusText: string, text: string, body: unknown): ApiError {
  const parsed = ErrorBodySchema.safeParse(body);
  if (parsed.success) return new ApiError(status, parsed.data.error, parsed.data.message, parsed.data.details);
  return new ApiError(status, `http_${status}`, text.slice(0, 200) || statusText);
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

/**
 * The HTTP transport of the REST API (plain fetch, bearer token or cookie). `call` reads every answer with the
 * route's response schema from `@edgeloop/contracts`; `EdgeloopApi` and `EnrolmentApi` name one method per
 * route on top of it. `request`/`get`/`post`/… return the JSON as it came, unchecked: for callers that check
 * it themselves.
 */
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

  /** `method path` with a JSON (or FormData) body; the answer parsed with `schema`, or an ApiResponseError naming the route. */
  async call<S extends z.ZodType>(method: string, path: string, schema: S, body?: unknown): Promise<z.output<S>> {
    const res = await this.send(method, path, body);
    return parseAnswer(schema, await readJson<unknown>(res), routeOf(method, path), res.status);
  }

  /** `DELETE path` (or another method) whose answer is 204 No Content. */
  async callNoContent(method: string, path: string, body?: unknown): Promise<void> {
    const res = await this.send(method, path, body);
    const text = await readJson<unknown>(res);
    if (res.status !== 204 && text !== undefined) {
      throw new ApiResponseError(
        res.status,
        routeOf(method, path),
        `${routeOf(method, path)} answered ${res.status} with a body; its contract is 204 No Content`,
        [],
      );
    }
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return readJson<T>(await this.send(method, path, body));
  }

  private async send(method: string, path: string, body?: unknown): Promise<Response> {
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
    return res;
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
  if (!res.ok) throw errorOf(res.status, res.statusText, text, body);
  return body as T;
}
