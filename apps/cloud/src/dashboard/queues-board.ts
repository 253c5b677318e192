import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { BULL_BOARD_INSTANCE, type BullBoardInstance } from '@bull-board/nestjs';
import { BULLMQ_PREFIX, DASHBOARD_SIGN_IN_PATH, ERROR_STATUS, QUEUE_NAMES, errorBody, type ErrorCode } from '@edgeloop/contracts';
import { Queue } from 'bullmq';
import type { NextFunction, Request, Response } from 'express';
import { CloudConfig } from '../config/cloud.config';
import { Principal, roleAllows, TokenService } from '../services/token.service';
import { readSessionCookie } from './session-cookie';
import { SessionService } from './session.service';

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

/** Puts every BullMQ queue of the cloud on the board (read through their own connections) and arms the gate. */
@Injectable()
export class QueuesBoard implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(QueuesBoard.name);
  private readonly queues: Queue[] = [];

  constructor(
    @Inject(BULL_BOARD_INSTANCE) private readonly board: BullBoardInstance,
    private readonly gate: QueuesBoardGate,
    private readonly sessions: SessionService,
    private readonly tokens: TokenService,
    private readonly config: CloudConfig,
  ) {}

  onModuleInit(): void {
    this.gate.attach(this.sessions, this.tokens);
    if (!this.config.redisUrl) return;
    for (const name of QUEUE_NAMES) {
      const queue = new Queue(name, { connection: { url: this.config.redisUrl, maxRetriesPerRequest: null }, prefix: BULLMQ_PREFIX });
      queue.on('error', (err: Error) => this.logger.warn(`queue ${name}: ${err.message}`));
      this.queues.push(queue);
      this.board.addQueue(new BullMQAdapter(queue));
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.queues.map((queue) => queue.close().catch(() => undefined)));
  }
}
