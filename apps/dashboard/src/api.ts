import { ApiClient, ApiError, EdgeloopApi } from '@edgeloop/client';
import { DASHBOARD_REQUEST_HEADER, type SessionRole } from '@edgeloop/contracts';

/** The API as the dashboard calls it: same origin, the session cookie, and the same-origin request header. */
export const api = new EdgeloopApi(new ApiClient({ baseUrl: '', credentials: 'same-origin', headers: { [DASHBOARD_REQUEST_HEADER]: 'dashboard' } }));

const rank: Record<SessionRole, number> = { viewer: 1, operator: 2, admin: 3 };

export function roleAllows(have: SessionRole | undefined, need: SessionRole): boolean {
  return have !== undefined && rank[have] >= rank[need];
}

/** The API's own words for an error: its message, with the first field details when it gave some. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    const details = err.details
      .map((d) => (typeof d === 'object' && d && 'message' in d ? `${(d as { path?: string }).path ?? ''} ${(d as { message: string }).message}`.trim() : ''))
      .filter(Boolean)
      .slice(0, 3);
    return details.length > 0 && !err.message.includes(details[0]) ? `${err.message} (${details.join('; ')})` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

export function isUnauthorized(err: unknown): boolean {
  return err instanceof ApiError && err.status === 401;
}

export { ApiError };
