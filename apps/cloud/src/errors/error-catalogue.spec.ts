import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ERROR_STATUS, ErrorBodySchema, isErrorCode } from '@edgeloop/contracts';
import { ArgumentsHost, HttpException, NotFoundException } from '@nestjs/common';
import { z } from 'zod';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { DomainError } from './domain.errors';
import { ErrorFilter } from './error.filter';

/**
 * The error catalogue (`ERROR_STATUS` in libs/contracts/src/errors.ts) against every code the cloud can
 * send. The scan reads the server's production source for:
 *  - any call that pairs a status with a code: `new XxxError(<status>, <code>…`, `super(<status>, <code>…`,
 *    a helper such as `refuse(401, 'unauthorized', …)` (status checked too);
 *    `new BadRequestError(<code>…` and `super(<code>…` in a BadRequestError subclass (400);
 *  - `new ZodValidationPipe(<schema>, <code>)` (400);
 *  - `errorBody(<code>, …)` from the contracts (its status is the catalogue's by construction);
 *  - bodies written by hand: `{ error: <code>, message: … }` (an object whose first key is `error`; codes
 *    inside `details`, such as a refused photo's reason, are not error codes).
 * A code expression may be a ternary: every snake_case literal in it counts.
 */

const repoRoot = join(__dirname, '..', '..', '..', '..');
const cloudSrc = join(repoRoot, 'apps', 'cloud', 'src');
const CATALOGUE_FILE = 'libs/contracts/src/errors.ts';

interface SentCode {
  file: string;
  line: number;
  code: string;
  /** The status the source pairs with the code, when it names one. */
  status?: number;
}

const CODE_LITERAL = /'([a-z][a-z0-9_]*)'/g;

/** The text of a call's arguments starting at `open` (the index of its `(`), split at top-level commas. */
function callArguments(source: string, open: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  let quote: string | null = null;
  for (let i = open; i < source.length; i++) {
    const ch = source[i];
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = null;
      continue;
    }
    if (ch === "'" || ch === '"' || ch === '`') quote = ch;
    else if (ch === '(' || ch === '[' || ch === '{') depth++;
    else if (ch === ')' || ch === ']' || ch === '}') {
      depth--;
      if (depth === 0) {
        args.push(source.slice(start, i));
        return args.map((a) => a.trim());
      }
    } else if (ch === ',' && depth === 1) {
      args.push(source.slice(start, i));
      start = i + 1;
    }
  }
  return args.map((a) => a.trim());
}

function literals(expression: string | undefined): string[] {
  // a bare literal or a ternary of literals; a template string or a call is a message, not a code
  if (!expression || expression.startsWith('`') || expression.includes('(')) return [];
  return [...expression.matchAll(CODE_LITERAL)].map((m) => m[1]);
}

/** Every code the given source can send, with the line it is on. */
function scanSentCodes(file: string, source: string): SentCode[] {
  const found: SentCode[] = [];
  const lineOf = (index: number) => source.slice(0, index).split('\n').length;
  const extendsBadRequest = /extends\s+BadRequestError\b/.test(source);

  for (const match of source.matchAll(/(?<![\w$.])(?:new\s+([A-Z][\w$]*)|(super)|([A-Za-z_$][\w$]*))\s*\(/g)) {
    const [, className, isSuper, callee] = match;
    const args = callArguments(source, match.index + match[0].length - 1);
    const line = lineOf(match.index);
    if (callee === 'errorBody') {
      for (const code of literals(args[0])) found.push({ file, line, code });
    } else if (className === 'ZodValidationPipe') {
      for (const code of literals(args[1])) found.push({ file, line, code, status: 400 });
    } else if (/^\d{3}$/.test(args[0] ?? '')) {
      // any call that pairs a status with a code: an error class, super(), a helper such as refuse(401, 'unauthorized', …)
      for (const code of literals(args[1])) found.push({ file, line, code, status: Number(args[0]) });
    } else if (className === 'BadRequestError' || (isSuper && extendsBadRequest)) {
      for (const code of literals(args[0])) found.push({ file, line, code, status: 400 });
    }
  }
  // an object that opens with `error` then `message` is an error body; `{ status: 'refused', error: … }` is a detail
  for (const match of source.matchAll(/\{\s*error:\s*([^,{}]+?)\s*,\s*message\b/g)) {
    for (const code of literals(match[1])) found.push({ file, line: lineOf(match.index), code });
  }
  return found;
}

/** What is wrong with the sent codes against the catalogue, one line per problem, saying what to change. */
function catalogueProblems(sent: SentCode[], catalogue: Readonly<Record<string, number>> = ERROR_STATUS): string[] {
  const problems: string[] = [];
  const inOrder = [...sent].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
  for (const { file, line, code, status } of inOrder) {
    const listed = Object.hasOwn(catalogue, code) ? catalogue[code] : undefined;
    if (listed === undefined) {
      problems.push(
        `${file}:${line} sends '${code}', which is not in the catalogue: add \`${code}: ${status ?? '<status>'},\` to ERROR_STATUS in ${CATALOGUE_FILE} (and to docs/protocol.md)`,
      );
    } else if (status !== undefined && status !== listed) {
      problems.push(
        `${file}:${line} sends '${code}' with status ${status}, but the catalogue (${CATALOGUE_FILE}) says ${listed}: use ${listed}, or another code`,
      );
    }
  }
  return problems;
}

function productionSources(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts') && !/\.(spec|int|e2e)\.ts$/.test(name) && !name.split(/[\\/]/).includes('testing'))
    .map((name) => join(dir, name));
}

function scanCloud(): SentCode[] {
  return productionSources(cloudSrc).flatMap((path) => scanSentCodes(relative(repoRoot, path), readFileSync(path, 'utf8')));
}

describe('the error catalogue against the codes the cloud sends', () => {
  const sent = scanCloud();

  it('lists every code the cloud source can send, with the status the source pairs it with', () => {
    expect(catalogueProblems(sent)).toEqual([]);
  });

  it('the scan sees the codes it is meant to see (domain errors, pipes, ternaries, hand-written bodies)', () => {
    const codes = new Set(sent.map((s) => s.code));
    for (const code of [
      'invalid_body',
      'invalid_query',
      'client_disconnected',
      'no_target_devices',
      'not_found',
      'unauthorized',
      'invalid_json',
      'internal',
      'range_not_satisfiable',
    ]) {
      expect({ code, seen: codes.has(code) }).toEqual({ code, seen: true });
    }
    expect(sent.length).toBeGreaterThan(40);
  });

  it('reports a code missing from the catalogue and a status that disagrees, naming file, line and the fix', () => {
    const source = [
      "import { BadRequestError, DomainError } from '../errors/domain.errors';",
      "throw new DomainError(409, 'brand_new_code', 'x');",
      "throw new BadRequestError(flag ? 'invalid_body' : 'other_new_code', 'y');",
      "throw new DomainError(404, 'conflict', 'z');",
      "res.json({ error: 'hand_written', message: 'w', details: [] });",
      "const detail = { status: 'refused', error: 'no_face', message: 'v' };",
      "const pipe = new ZodValidationPipe(schema, 'invalid_query');",
      "if (!match) return void refuse(401, 'helper_code', 'x');",
      "res.json({ error: denied ? 'unauthorized' : 'ternary_body_code', message: m, details: [] });",
      'throw new NotFoundError(`model ${name}`);',
      "res.status(503).json(errorBody('typed_elsewhere', 'u'));",
    ].join('\n');
    expect(catalogueProblems(scanSentCodes('apps/cloud/src/x.ts', source))).toEqual([
      "apps/cloud/src/x.ts:2 sends 'brand_new_code', which is not in the catalogue: add `brand_new_code: 409,` to ERROR_STATUS in libs/contracts/src/errors.ts (and to docs/protocol.md)",
      "apps/cloud/src/x.ts:3 sends 'other_new_code', which is not in the catalogue: add `other_new_code: 400,` to ERROR_STATUS in libs/contracts/src/errors.ts (and to docs/protocol.md)",
      "apps/cloud/src/x.ts:4 sends 'conflict' with status 404, but the catalogue (libs/contracts/src/errors.ts) says 409: use 409, or another code",
      "apps/cloud/src/x.ts:5 sends 'hand_written', which is not in the catalogue: add `hand_written: <status>,` to ERROR_STATUS in libs/contracts/src/errors.ts (and to docs/protocol.md)",
      "apps/cloud/src/x.ts:8 sends 'helper_code', which is not in the catalogue: add `helper_code: 401,` to ERROR_STATUS in libs/contracts/src/errors.ts (and to docs/protocol.md)",
      "apps/cloud/src/x.ts:9 sends 'ternary_body_code', which is not in the catalogue: add `ternary_body_code: <status>,` to ERROR_STATUS in libs/contracts/src/errors.ts (and to docs/protocol.md)",
      "apps/cloud/src/x.ts:11 sends 'typed_elsewhere', which is not in the catalogue: add `typed_elsewhere: <status>,` to ERROR_STATUS in libs/contracts/src/errors.ts (and to docs/protocol.md)",
    ]);
  });

  it('the validation pipe answers with a catalogue code by default', () => {
    const pipe = new ZodValidationPipe(z.object({ n: z.number() }));
    let thrown: unknown;
    try {
      pipe.transform({ n: 'x' });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(DomainError);
    const { code, status } = thrown as DomainError;
    expect({ code, status, listed: isErrorCode(code) ? ERROR_STATUS[code] : undefined }).toEqual({ code: 'invalid_body', status: 400, listed: 400 });
  });
});

describe('ErrorFilter', () => {
  function answer(exception: unknown): { status: number; body: unknown } {
    const sent: { status?: number; body?: unknown } = {};
    const res = {
      headersSent: false,
      status(code: number) {
        sent.status = code;
        return this;
      },
      json(body: unknown) {
        sent.body = body;
      },
    };
    const req = { method: 'POST', originalUrl: '/api/v1/x', path: '/api/v1/x', route: { path: '/api/v1/x' } };
    const host = { switchToHttp: () => ({ getResponse: () => res, getRequest: () => req }) } as unknown as ArgumentsHost;
    const filter = new ErrorFilter();
    (filter as unknown as { logger: { error: () => void } }).logger = { error: () => undefined };
    filter.catch(exception, host);
    return { status: sent.status!, body: sent.body };
  }

  it('takes the status from the catalogue, not from the error', () => {
    const { status, body } = answer(new DomainError(400, 'identity_exists', 'an identity named "a" exists', [{ name: 'a' }]));
    expect(status).toBe(ERROR_STATUS.identity_exists);
    expect(status).toBe(409);
    expect(ErrorBodySchema.parse(body)).toEqual({ error: 'identity_exists', message: 'an identity named "a" exists', details: [{ name: 'a' }] });
  });

  it('gives a framework exception the catalogue code of its status', () => {
    expect(answer(new NotFoundException('Cannot GET /api/v1/nothing'))).toEqual({
      status: 404,
      body: { error: 'not_found', message: 'Cannot GET /api/v1/nothing', details: [] },
    });
    const teapot = answer(new HttpException('short and stout', 418));
    expect(teapot).toEqual({ status: 400, body: { error: 'bad_request', message: 'short and stout', details: [] } });
  });

  it('answers a body outside the catalogue or the schema with a 500, never with the stray code', () => {
    const stray = answer(new DomainError(409, 'not_a_listed_code' as never, 'x'));
    expect(stray.status).toBe(500);
    expect(stray.body).toMatchObject({ error: 'internal' });
    const badDetails = answer(new DomainError(409, 'conflict', 'x', 'not an array' as never));
    expect(badDetails.status).toBe(500);
  });

  it('answers an unknown exception with a 500 naming the route', () => {
    expect(answer(new Error('boom'))).toEqual({ status: 500, body: { error: 'internal', message: 'internal error on POST /api/v1/x', details: [] } });
  });
});
