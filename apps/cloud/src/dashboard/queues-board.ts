import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { BULL_BOARD_INSTANCE, type BullBoardInstance } from '@bull-board/nestjs';
import { getQueueToken } from '@nestjs/bullmq';
import { DASHBOARD_SIGN_IN_PATH, ERROR_STATUS, QUEUE_NAMES, errorBody, type ErrorCode } from '@edgeloop/contracts';
import type { Queue } from 'bullmq';
import type { NextFunction, Request, Response } from 'express';
import { Principal, roleAllows, TokenService } from '../services/token.service';
import { readSessionCookie } from './session-cookie';
import { SessionService } from './session.service';

/** Every queue of the cloud, in QUEUE_NAMES order, as registered on the one BullMQ setup. */
export const BOARD_QUEUES = Symbol('BOARD_QUEUES');

/** The provider of BOARD_QUEUES, for a module that registers every queue. */
export const boardQueuesProvider = {
  provide: BOARD_QUEUES,
  useFactory: (...queues: Queue[]): Queue[] => queues,
  inject: QUEUE_NAMES.map((name) => getQueueToken(name)),
};

/** Where bull-board is mounted, under the API prefix: `/api/v1/admin/queues`. */
export const QUEUES_BOARD_ROUTE = '/admin/queues';

/**
 * The admin check in front of bull-board. Bull-board is mounted as middleware by its own Nest module, which
 * cannot see the app's providers, so the gate is created with the module and `QueuesBoard` hands it the
 * session and token services at init. Admins only (session cookie or bearer token); a browser without a
 * session is sent to sign in; a state-changing request must come from the same origin.
 */
export class QueuesBoardGate {
  private sessions?: SessionService;
  private tokens?: TokenService;

  attach(sessions: SessionService, tokens: TokenService): void {
    this.sessions = sessions;
    this.tokens = tokens;
  }

  readonly middleware = (req: Request, res: Response, next: NextFunction): void => {
    this.check(req).then(
      (refusal) => {
        if (!refusal) return next();
        if (refusal.code === 'unauthorized' && req.method === 'GET' && (req.headers.accept ?? '').includes('text/html')) {
          res.redirect(302, `${DASHBOARD_SIGN_IN_PATH}?next=${encodeURIComponent(req.originalUrl)}`);
          return;
        }
        res.status(ERROR_STATUS[refusal.code]).json(errorBody(refusal.code, refusal.message));
      },
      (err: unknown) => next(err),
    );
  };

  private async check(req: Request): Promise<{ code: ErrorCode; message: string } | undefined> {
    if (!this.sessions || !this.tokens) return { code: 'unavailable', message: 'the queue board is starting' };
    let principal: Principal | undefined;
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (bearer) {
      principal = await this.tokens.authenticate(bearer[1]);
    } else {
      const sessionId = readSessionCookie(req);
      principal = sessionId ? await this.sessions.authenticate(sessionId) : undefined;
      const site = req.headers['sec-fetch-site'];
      if (principal && !['GET', 'HEAD'].includes(req.method) && site !== 'same-origin') {
        return { code: 'forbidden', message: 'queue actions with the session cookie must come from the dashboard itself' };
      }
    }
    if (!principal) return { code: 'unauthorized', message: 'sign in as an admin to see the queues' };
    if (!roleAllows(principal.role, 'admin')) return { code: 'forbidden', message: `the queue board needs the admin role; you have ${principal.role}` };
    return undefined;
  }
}

/**
 * Puts every BullMQ queue of the cloud on the board (the queues DashboardModule registers on the one BullMQ
 * setup, closed with the others at shutdown) and arms the gate.
 */
@Injectable()
export class QueuesBoard implements OnModuleInit {
  constructor(
    @Inject(BULL_BOARD_INSTANCE) private readonly board: BullBoardInstance,
    private readonly gate: QueuesBoardGate,
    private readonly sessions: SessionService,
    private readonly tokens: TokenService,
    @Inject(BOARD_QUEUES) private readonly queues: Queue[],
  ) {}

  onModuleInit(): void {
    this.gate.attach(this.sessions, this.tokens);
    for (const queue of this.queues) this.board.addQueue(new BullMQAdapter(queue));
  }
}
