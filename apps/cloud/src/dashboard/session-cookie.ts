import { DASHBOARD_REQUEST_HEADER } from '@edgeloop/contracts';
import type { Request, Response } from 'express';

/** The dashboard's session cookie: HttpOnly, SameSite=Strict, Secure when the request came over https. */
export const SESSION_COOKIE = 'edgeloop_session';

export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

export function readSessionCookie(req: Request): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === SESSION_COOKIE) {
      const value = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{20,100}$/.test(value) ? value : undefined;
    }
  }
  return undefined;
}

export function setSessionCookie(req: Request, res: Response, sessionId: string, maxAgeMs: number): void {
  res.cookie(SESSION_COOKIE, sessionId, { httpOnly: true, sameSite: 'strict', secure: isHttps(req), path: '/', maxAge: maxAgeMs });
}

export function clearSessionCookie(req: Request, res: Response): void {
  res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', secure: isHttps(req), path: '/' });
}

function isHttps(req: Request): boolean {
  return req.protocol === 'https' || req.headers['x-forwarded-proto'] === 'https';
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The dashboard sends `DASHBOARD_REQUEST_HEADER` on every state-changing request: a cross-site form cannot
 * set it, and a cross-site script cannot either without a CORS preflight the cloud never answers.
 *
 * Why a cookie-authenticated request must be refused as possibly forged, or undefined when it may go on:
 * a state-changing request needs the dashboard header, and a browser that says where it came from must
 * say the same origin.
 */
export function crossSiteRefusal(req: Request): string | undefined {
  if (SAFE_METHODS.has(req.method.toUpperCase())) return undefined;
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return `a ${site} request cannot use the session cookie`;
  const origin = req.headers.origin;
  if (typeof origin === 'string' && origin !== 'null') {
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      return 'the Origin header is not a URL';
    }
    if (host !== req.headers.host) return `a request from ${origin} cannot use the session cookie`;
  } else if (origin === 'null') {
    return 'a request from an opaque origin cannot use the session cookie';
  }
  if (req.headers[DASHBOARD_REQUEST_HEADER] !== 'dashboard')
    return `a state-changing request with the session cookie needs the ${DASHBOARD_REQUEST_HEADER}: dashboard header`;
  return undefined;
}
