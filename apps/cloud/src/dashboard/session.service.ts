import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { UnauthorizedError } from '../errors/domain.errors';
import { AuditRepository } from '../repositories/audit.repository';
import { hashToken, Principal, TokenService } from '../services/token.service';
import { SESSION_TTL_MS } from './session-cookie';
import { SessionOwner, SessionRepository } from './session.repository';

/** A single-use sign-in link is good for this long. */
export const SIGN_IN_LINK_TTL_MS = 15 * 60 * 1000;

export interface OpenedSession {
  sessionId: string;
  expiresAt: Date;
  principal: Principal;
}

/** Opens dashboard sessions from an API token or a one-time sign-in code, and resolves a session cookie to its principal. */
@Injectable()
export class SessionService {
  constructor(
    private readonly sessions: SessionRepository,
    private readonly tokens: TokenService,
    private readonly audit: AuditRepository,
  ) {}

  async openWithToken(token: string): Promise<OpenedSession> {
    const principal = await this.tokens.authenticate(token);
    if (!principal || principal.role === 'device') throw new UnauthorizedError('the API token is unknown or revoked');
    return this.open(principal, 'session.open');
  }

  async openWithCode(code: string): Promise<OpenedSession> {
    const owner = await this.sessions.redeemLink(hashToken(code));
    if (!owner) throw new UnauthorizedError('the sign-in link is unknown, used or expired');
    return this.open(toPrincipal(owner), 'session.open_link');
  }

  async authenticate(sessionId: string): Promise<Principal | undefined> {
    const owner = await this.sessions.findSessionOwner(hashToken(sessionId));
    return owner ? toPrincipal(owner) : undefined;
  }

  async close(sessionId: string): Promise<void> {
    await this.sessions.deleteSession(hashToken(sessionId));
  }

  /** A single-use code that opens a session as `principal`; only its hash is stored. */
  async createLink(principal: Principal): Promise<{ code: string; expiresAt: Date }> {
    const code = randomBytes(24).toString('base64url');
    const expiresAt = new Date(Date.now() + SIGN_IN_LINK_TTL_MS);
    await this.sessions.insertLink(hashToken(code), principal.tokenId, expiresAt);
    await this.audit.record({ actor: principal.tokenId, action: 'session.link', subject: principal.tokenId });
    return { code, expiresAt };
  }

  private async open(principal: Principal, action: string): Promise<OpenedSession> {
    const sessionId = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + SESSION_TTL_MS);
    await this.sessions.insertSession(hashToken(sessionId), principal.tokenId, expiresAt);
    await this.audit.record({ actor: principal.tokenId, action, subject: principal.tokenId });
    return { sessionId, expiresAt, principal };
  }
}

function toPrincipal(owner: SessionOwner): Principal {
  return { tokenId: owner.tokenId, name: owner.name, role: owner.role };
}
