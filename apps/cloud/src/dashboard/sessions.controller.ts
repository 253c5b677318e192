import { Controller, Delete, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { OpenSessionRequestSchema, sessionPaths, type OpenSessionRequest, type SessionResponse, type SignInLinkResponse } from '@edgeloop/contracts';
import type { Request, Response } from 'express';
import { AuthenticatedRequest, RequireRole, RequireSessionCookie } from '../auth/auth.guard';
import { ForbiddenError, UnauthorizedError } from '../errors/domain.errors';
import { ZodBody } from '../http/openapi';
import { clearSessionCookie, crossSiteRefusal, readSessionCookie, setSessionCookie } from './session-cookie';
import { SessionService } from './session.service';

/** Dashboard sign-in: an API token (or a one-time link code) is exchanged for an HttpOnly session cookie. */
@ApiTags('sessions')
@Controller('sessions')
export class SessionsController {
  constructor(private readonly sessions: SessionService) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({ summary: 'Open a dashboard session with an API token or a sign-in code; sets the session cookie' })
  async open(
    @ZodBody(OpenSessionRequestSchema) body: OpenSessionRequest,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<SessionResponse> {
    const opened = 'token' in body ? await this.sessions.openWithToken(body.token) : await this.sessions.openWithCode(body.code);
    setSessionCookie(req, res, opened.sessionId, opened.expiresAt.getTime() - Date.now());
    return { name: opened.principal.name, role: opened.principal.role as SessionResponse['role'], expiresAt: opened.expiresAt.toISOString() };
  }

  @Get('me')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Who the session (or bearer token) is: name and role' })
  me(@Req() req: AuthenticatedRequest): SessionResponse {
    const principal = req.principal!;
    return { name: principal.name, role: principal.role as SessionResponse['role'], expiresAt: null };
  }

  @Delete('current')
  @HttpCode(204)
  @RequireSessionCookie()
  @ApiOperation({ summary: 'Sign out: ends the session and clears its cookie' })
  async close(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<void> {
    const sessionId = readSessionCookie(req);
    if (!sessionId) throw new UnauthorizedError('there is no session to end');
    const refusal = crossSiteRefusal(req);
    if (refusal) throw new ForbiddenError(refusal);
    await this.sessions.close(sessionId);
    clearSessionCookie(req, res);
  }

  @Post('links')
  @RequireRole('admin')
  @ApiOperation({ summary: 'A single-use sign-in code for the dashboard (15 minutes), opening a session as the caller' })
  async link(@Req() req: AuthenticatedRequest): Promise<SignInLinkResponse> {
    const { code, expiresAt } = await this.sessions.createLink(req.principal!);
    return { code, path: sessionPaths.signInLink(code), expiresAt: expiresAt.toISOString() };
  }
}
