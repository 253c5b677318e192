import { z } from 'zod';
import { API_PREFIX } from '../protocol';

/**
 * Dashboard sessions: `POST /api/v1/sessions` with an API token or a one-time sign-in code sets an HttpOnly,
 * SameSite=Strict session cookie; `GET /api/v1/sessions/me`; `DELETE /api/v1/sessions/current`;
 * `POST /api/v1/sessions/links` (admin) creates a single-use sign-in code. State-changing requests made
 * with the cookie must carry `DASHBOARD_REQUEST_HEADER: dashboard` and come from the same origin.
 */
export const OpenSessionRequestSchema = z.union([
  z.strictObject({ token: z.string().min(1).max(200) }),
  z.strictObject({ code: z.string().regex(/^[A-Za-z0-9_-]{20,100}$/, 'a sign-in code from a link') }),
]);
export type OpenSessionRequest = z.infer<typeof OpenSessionRequestSchema>;

export const SESSION_ROLES = ['viewer', 'operator', 'admin'] as const;
export type SessionRole = (typeof SESSION_ROLES)[number];

export const SessionResponseSchema = z.object({
  name: z.string(),
  role: z.enum(SESSION_ROLES),
  expiresAt: z.string().nullable(),
});
export type SessionResponse = z.infer<typeof SessionResponseSchema>;

export const SignInLinkResponseSchema = z.object({
  code: z.string(),
  /** The dashboard path that redeems the code: `/sign-in?code=…`. */
  path: z.string(),
  expiresAt: z.string(),
});
export type SignInLinkResponse = z.infer<typeof SignInLinkResponseSchema>;

export const DASHBOARD_REQUEST_HEADER = 'x-edgeloop-request';
export const DASHBOARD_SIGN_IN_PATH = '/sign-in';

const seg = (value: string): string => encodeURIComponent(value);

export const sessionPaths = {
  sessions: () => `${API_PREFIX}/sessions`,
  me: () => `${API_PREFIX}/sessions/me`,
  current: () => `${API_PREFIX}/sessions/current`,
  links: () => `${API_PREFIX}/sessions/links`,
  /** The live stream of domain events (server-sent events). */
  events: () => `${API_PREFIX}/events`,
  signInLink: (code: string) => `${DASHBOARD_SIGN_IN_PATH}?code=${seg(code)}`,
} as const;
