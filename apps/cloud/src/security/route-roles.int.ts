import type { ProvisionDeviceResponse } from '@edgeloop/contracts';
import { DEVICES_EXTENSION, ROLE_EXTENSION, SESSION_EXTENSION } from '../auth/auth.guard';
import type { TokenRole } from '../repositories/token.repository';
import { startCloudFixture, type CloudFixture } from '../testing/cloud-fixture';

type Caller = 'none' | TokenRole | 'device';
const CALLERS: Caller[] = ['none', 'viewer', 'operator', 'admin', 'device'];
const RANK: Record<TokenRole, number> = { viewer: 1, operator: 2, admin: 3 };
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

interface Operation {
  method: (typeof METHODS)[number];
  path: string;
  role?: TokenRole;
  devices: boolean;
  /** Checks the dashboard session cookie itself (the callers here send none). */
  session: boolean;
  security: boolean;
}

/** The rule an operation documents in OpenAPI: what each caller should get. */
function expected(op: Operation, caller: Caller): 'public' | 401 | 403 | 'allowed' {
  if (op.session) return 401;
  if (!op.role) return 'public';
  if (caller === 'none') return 401;
  if (caller === 'device') return op.devices ? 'allowed' : 403;
  return RANK[caller] >= RANK[op.role] ? 'allowed' : 403;
}

/** Path parameters that name nothing that exists, so no route finds anything to change. */
function fillPath(path: string): string {
  return path.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    if (/sha256/i.test(name)) return '0'.repeat(64);
    if (/^(v|version)$/i.test(name)) return '99999';
    return `no-such-${name.toLowerCase()}`;
  });
}

/**
 * Who may do what, built from the OpenAPI document of a running cloud: every operation × caller (no token,
 * viewer, operator, admin, device token) against the rule the operation documents (`x-edgeloop-role`,
 * `x-edgeloop-devices`, written by the RequireRole / AllowDevices decorators; `x-edgeloop-session` for a route
 * that checks the dashboard cookie itself; none of them = public). Requests
 * carry an invalid body and ids of nothing, so nothing is created. A route added later is in the document,
 * so it is covered; one that says it needs a bearer token but documents no role fails, named.
 */
describe('route × role table from OpenAPI', () => {
  let fx: CloudFixture;
  const tokens: Partial<Record<Caller, string>> = {};
  let operations: Operation[] = [];

  const issue = async (role: TokenRole): Promise<{ token: string; id: string }> => {
    const res = await fx.api('/api/v1/tokens', {
      method: 'POST',
      body: JSON.stringify({ name: `rr-${role}`, role }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { token: string; id: string };
  };

  beforeAll(async () => {
    fx = await startCloudFixture({ broker: 'embedded' });
    tokens.admin = fx.adminToken;
    tokens.viewer = (await issue('viewer')).token;
    tokens.operator = (await issue('operator')).token;
    const res = await fx.api('/api/v1/devices', {
      method: 'POST',
      body: JSON.stringify({ id: 'cam-roles', name: 'cam-roles' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(201);
    tokens.device = ((await res.json()) as ProvisionDeviceResponse).credentials.http.token;

    const doc = (await (await fetch(`${fx.url}/api/docs-json`)).json()) as { paths: Record<string, Record<string, Record<string, unknown>>> };
    operations = Object.entries(doc.paths).flatMap(([path, item]) =>
      METHODS.filter((m) => item[m]).map((method) => {
        const op = item[method]!;
        return {
          method,
          path,
          role: op[ROLE_EXTENSION] as TokenRole | undefined,
          devices: op[DEVICES_EXTENSION] === true,
          session: op[SESSION_EXTENSION] === true,
          security: Array.isArray(op.security) && op.security.length > 0,
        };
      }),
    );
  }, 90_000);
  afterAll(() => fx?.stop());

  /** Status of one request; the body (an SSE stream, a blob) is not read. */
  const call = async (op: Operation, caller: Caller): Promise<number> => {
    const headers: Record<string, string> = {};
    if (caller !== 'none') headers.authorization = `Bearer ${tokens[caller]}`;
    const withBody = op.method !== 'get' && op.method !== 'delete';
    if (withBody) headers['content-type'] = 'application/json';
    const abort = new AbortController();
    const res = await fetch(`${fx.url}${fillPath(op.path)}`, {
      method: op.method.toUpperCase(),
      headers,
      body: withBody ? JSON.stringify({ routeRoleProbe: 'not a field of any route' }) : undefined,
      signal: AbortSignal.any([abort.signal, AbortSignal.timeout(15_000)]),
    });
    abort.abort();
    return res.status;
  };

  it('documents a rule for every route, and every route × caller gets the answer its rule says', async () => {
    expect(operations.length).toBeGreaterThan(40);
    const undocumented = operations.filter((op) => op.security && !op.role).map((op) => `${op.method.toUpperCase()} ${op.path}`);
    const wrong: string[] = [];
    const table: string[] = [];
    for (const op of operations) {
      const row: string[] = [];
      for (const caller of CALLERS) {
        const status = await call(op, caller);
        const rule = expected(op, caller);
        const ok = rule === 'public' || rule === 'allowed' ? status !== 401 && status !== 403 && status < 500 : status === rule;
        if (!ok)
          wrong.push(
            `${op.method.toUpperCase()} ${op.path} as ${caller}: ${status}, the documented rule says ${rule === 'public' ? 'public (no 401/403)' : rule}`,
          );
        row.push(`${caller}=${status}`);
      }
      table.push(`${op.method.toUpperCase()} ${op.path} [${op.session ? 'session' : (op.role ?? 'public')}${op.devices ? '+device' : ''}] ${row.join(' ')}`);
    }
    if (process.env.EDGELOOP_PRINT_ROUTE_TABLE === '1') process.stdout.write(`${table.join('\n')}\n`);
    expect({ undocumented, wrong }).toEqual({ undocumented: [], wrong: [] });
  }, 120_000);

  it('takes a revoked token away at once: its next request is 401', async () => {
    const { token, id } = await issue('operator');
    const asOperator = () => fx.api('/api/v1/devices', { token });
    expect((await asOperator()).status).toBe(200);
    expect((await fx.api(`/api/v1/tokens/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await asOperator()).status).toBe(401);
    expect((await fx.api('/api/v1/devices', { token, method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(401);
  });
});
