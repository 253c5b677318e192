import { z } from 'zod';

/** Outcome of a parse that must never throw: a handler counts and dead-letters the failure instead. */
export type ParseResult<T, C extends string = string> =
  | { ok: true; value: T }
  | { ok: false; error: ParseFailure<C> };

export interface ParseFailure<C extends string = string> {
  code: C;
  /** One line a person can read: every bad field by its path, e.g. `items[2].faces[0].score: …`. */
  message: string;
  /** Field-level details, the same list the REST error body carries in `details`. */
  details: FieldIssue[];
}

/** One invalid field: the shape of an entry in the REST error body's `details`. */
export interface FieldIssue {
  path: string;
  message: string;
  code: string;
}

/** Issues listed in a message before the rest are summarised, so a huge bad payload gives a bounded message. */
const MAX_LISTED_ISSUES = 8;

/** `['items', 2, 'faces', 0, 'score']` → `items[2].faces[0].score`; the empty path is `(root)`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

export function fieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => ({ path: formatPath(issue.path), message: issueMessage(issue), code: issue.code }));
}

/** zod's own message, except where it hides the reason one level down (a record key). */
function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_key' && issue.issues.length > 0) return `invalid key: ${issue.issues[0]!.message}`;
  return issue.message;
}

/** A bounded one-line description of a zod error that names every bad field it lists. */
export function describeZodError(error: z.ZodError): string {
  const issues = fieldIssues(error);
  const listed = issues.slice(0, MAX_LISTED_ISSUES).map((i) => `${i.path}: ${i.message}`);
  const rest = issues.length - listed.length;
  return rest > 0 ? `${listed.join('; ')}; and ${rest} more` : listed.join('; ');
}

/** Validate with a schema and return a result instead of throwing. */
export function parseWith<S extends z.ZodType>(
  schema: S,
  input: unknown,
): ParseResult<z.output<S>, 'invalid_payload'> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return { ok: true, value: parsed.data };
  return {
    ok: false,
    error: { code: 'invalid_payload', message: describeZodError(parsed.error), details: fieldIssues(parsed.error) },
  };
}

export type JsonDecodeCode = 'empty' | 'too_large' | 'invalid_json';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decode a JSON payload with a size limit checked on the raw bytes, before any parsing.
 * Invalid UTF-8 is `invalid_json`, like a syntax error.
 */
export function decodeJson(payload: Uint8Array | string, maxBytes: number): ParseResult<unknown, JsonDecodeCode> {
  const bytes = typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.byteLength;
  if (bytes === 0) return failure('empty', 'the payload is empty');
  if (bytes > maxBytes) return failure('too_large', `the payload is ${bytes} bytes, over the limit of ${maxBytes}`);
  let text: string;
  try {
    text = typeof payload === 'string' ? payload : utf8.decode(payload);
  } catch {
    return failure('invalid_json', 'the payload is not valid UTF-8');
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return failure('invalid_json', `the payload is not valid JSON: ${(error as Error).message}`);
  }
}

function failure<C extends string>(code: C, message: string): { ok: false; error: ParseFailure<C> } {
  return { ok: false, error: { code, message, details: [] } };
}
