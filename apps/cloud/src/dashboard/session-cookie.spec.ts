import type { Request } from 'express';
import { crossSiteRefusal, readSessionCookie } from './session-cookie';

const request = (method: string, headers: Record<string, string>): Request =>
  ({ method, headers: { host: 'cloud.example:8080', ...headers } }) as unknown as Request;
const id = 'A'.repeat(43);

describe('session cookie', () => {
  it('reads the session id among other cookies, and ignores a malformed one', () => {
    expect(readSessionCookie(request('GET', { cookie: `theme=dark; edgeloop_session=${id}; other=1` }))).toBe(id);
    expect(readSessionCookie(request('GET', { cookie: 'edgeloop_session=short' }))).toBeUndefined();
    expect(readSessionCookie(request('GET', { cookie: 'edgeloop_session=<script>alert(1)</script>aaaaaaaaaaaaaaaaaa' }))).toBeUndefined();
    expect(readSessionCookie(request('GET', {}))).toBeUndefined();
  });

  it('lets reads through and a same-origin dashboard write', () => {
    expect(crossSiteRefusal(request('GET', { 'sec-fetch-site': 'cross-site' }))).toBeUndefined();
    expect(
      crossSiteRefusal(request('POST', { 'x-edgeloop-request': 'dashboard', 'sec-fetch-site': 'same-origin', origin: 'http://cloud.example:8080' })),
    ).toBeUndefined();
    expect(crossSiteRefusal(request('DELETE', { 'x-edgeloop-request': 'dashboard' }))).toBeUndefined();
  });

  it('refuses writes without the dashboard header, from another site or origin, or from an opaque origin', () => {
    expect(crossSiteRefusal(request('POST', {}))).toMatch(/x-edgeloop-request: dashboard/);
    expect(crossSiteRefusal(request('POST', { 'x-edgeloop-request': 'dashboard', 'sec-fetch-site': 'cross-site' }))).toMatch(/cross-site/);
    expect(crossSiteRefusal(request('PUT', { 'x-edgeloop-request': 'dashboard', 'sec-fetch-site': 'same-site' }))).toMatch(/same-site/);
    expect(crossSiteRefusal(request('POST', { 'x-edgeloop-request': 'dashboard', origin: 'http://evil.example' }))).toMatch(/evil\.example/);
    expect(crossSiteRefusal(request('POST', { 'x-edgeloop-request': 'dashboard', origin: 'null' }))).toMatch(/opaque origin/);
    expect(crossSiteRefusal(request('POST', { 'x-edgeloop-request': 'other' }))).toMatch(/header/);
  });
});
