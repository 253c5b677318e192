import { applyDecorators, CanActivate, ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiExtension } from '@nestjs/swagger';
import type { Request } from 'express';
import { ForbiddenError, UnauthorizedError } from '../errors/domain.errors';
import type { TokenRole } from '../repositories/token.repository';
import { Principal, roleAllows, TokenService } from '../services/token.service';
import { crossSiteRefusal, readSessionCookie } from '../dashboard/session-cookie';
import { SessionService } from '../dashboard/session.service';

const ROLE_KEY = 'edgeloop:role';
const DEVICE_KEY = 'edgeloop:device';

/** OpenAPI extensions that document each operation's rule; an operation with neither is public. */
export const ROLE_EXTENSION = 'x-edgeloop-role';
export const DEVICES_EXTENSION = 'x-edgeloop-devices';
export const SESSION_EXTENSION = 'x-edgeloop-session';

/** The least role a route needs; routes without it are public (health, docs, the signing public key). */
export const RequireRole = (role: TokenRole) => applyDecorators(SetMetadata(ROLE_KEY, role), ApiExtension(ROLE_EXTENSION, role));

/** Also lets edge devices in with their HTTP device token (blob downloads). */
export const AllowDevices = () => applyDecorators(SetMetadata(DEVICE_KEY, true), ApiExtension(DEVICES_EXTENSION, true));

/** Documents a route that checks the dashboard session cookie itself (sign-out): 401 without one, whatever the bearer token. */
export const RequireSessionCookie = () => ApiExtension(SESSION_EXTENSION, true);

export type AuthenticatedRequest = Request & { principal?: Principal };

/**
 * Bearer tokens, or the dashboard's session cookie: 401 without a valid one, 403 when its role is below
 * what the route needs. A state-changing request made with the cookie must also pass the same-origin
 * check (`crossSiteRefusal`), so a forged cross-site request is refused even though the browser sends it.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokenService,
    private readonly sessions: SessionService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const need = this.reflector.getAllAndOverride<TokenRole | undefined>(ROLE_KEY, [context.getHandler(), context.getClass()]);
    if (!need) return true;
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const principal = await this.authenticate(req);
    const devicesAllowed = this.reflector.getAllAndOverride<boolean | undefined>(DEVICE_KEY, [context.getHandler(), context.getClass()]);
    if (principal.role === 'device' && devicesAllowed) {
      req.principal = principal;
      return true;
    }
    if (!roleAllows(principal.role, need)) {
      throw new ForbiddenError(`this route needs the ${need} role; the token has ${principal.role}`);
    }
    req.principal = principal;
    return true;
  }

  private async authenticate(req: AuthenticatedRequest): Promise<Principal> {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (!match) throw new UnauthorizedError();
      const principal = await this.tokens.authenticate(match[1]);
      if (!principal) throw new UnauthorizedError('the bearer token is unknown or revoked');
      return principal;
    }
    const sessionId = readSessionCookie(req);
    if (!sessionId) throw new UnauthorizedError();
    const principal = await this.sessions.authenticate(sessionId);
    if (!principal) throw new UnauthorizedError('the dashboard session has expired or was ended; sign in again');
    const refusal = crossSiteRefusal(req);
    if (refusal) throw new ForbiddenError(refusal);
    return principal;
  }
}
