import type { DynamicModule, Provider, Type } from '@nestjs/common';
import { ExpressAdapter } from '@bull-board/express';
import { BullBoardModule, type BullBoardModuleOptions } from '@bull-board/nestjs';
import { ServeStaticModule } from '@nestjs/serve-static';
import { CloudConfig } from '../config/cloud.config';
import { EventsController } from './events.controller';
import { QueuesBoard, QueuesBoardGate, QUEUES_BOARD_ROUTE } from './queues-board';
import { SessionRepository } from './session.repository';
import { SessionService } from './session.service';
import { SessionsController } from './sessions.controller';
import { dashboardStaticOptions, findDashboardDir } from './static-files';

export interface DashboardFeatureParts {
  imports: DynamicModule[];
  controllers: Type[];
  providers: Provider[];
}

/**
 * The dashboard feature: sessions (the AuthGuard reads their cookie), the live event stream, the built
 * single-page app at `/` (when it was built) and bull-board for admins (when Redis is configured).
 * Registered in AppModule's own scope, like the webhooks feature, because the AuthGuard and the sessions
 * run on AppModule's SqlDatabase and TokenService.
 */
export function dashboardFeature(config: CloudConfig): DashboardFeatureParts {
  const dir = findDashboardDir(config.dashboardDir);
  const gate = new QueuesBoardGate();
  const board = config.redisUrl !== undefined;
  return {
    imports: [
      ...(dir ? [ServeStaticModule.forRoot(dashboardStaticOptions(dir))] : []),
      ...(board ? [BullBoardModule.forRoot({ route: QUEUES_BOARD_ROUTE, adapter: expressBoardAdapter, middleware: gate.middleware })] : []),
    ],
    controllers: [SessionsController, EventsController],
    providers: [SessionRepository, SessionService, ...(board ? [{ provide: QueuesBoardGate, useValue: gate }, QueuesBoard] : [])],
  };
}

/**
 * @bull-board/express 9.10.1 types its queues from its own copy of @bull-board/api (9.10.2 is the newest
 * of the others); the runtime shapes are the same, only the nominal types differ.
 */
const expressBoardAdapter = ExpressAdapter as unknown as BullBoardModuleOptions['adapter'];
