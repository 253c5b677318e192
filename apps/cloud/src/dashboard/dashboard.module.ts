import { DynamicModule, Module } from '@nestjs/common';
import { ExpressAdapter } from '@bull-board/express';
import { BullBoardModule, type BullBoardModuleOptions } from '@bull-board/nestjs';
import { BullModule } from '@nestjs/bullmq';
import { ServeStaticModule } from '@nestjs/serve-static';
import { QUEUE_NAMES } from '@edgeloop/contracts';
import { CloudConfig } from '../config/cloud.config';
import { EventsController } from './events.controller';
import { boardQueuesProvider, QueuesBoard, QueuesBoardGate, QUEUES_BOARD_ROUTE } from './queues-board';
import { SessionRepository } from './session.repository';
import { SessionService } from './session.service';
import { SessionsController } from './sessions.controller';
import { dashboardStaticOptions, findDashboardDir } from './static-files';

/**
 * The dashboard: sessions (exported: AppModule's AuthGuard reads their cookie), the live event stream, the
 * built single-page app at `/` (when it was built) and, with Redis, bull-board for admins over every queue of
 * the cloud (registered here on the one BullMQ setup, so the board reads them with its connection and
 * prefix). Runs on the core module's SQL, tokens and audit and the events module's relay, in every role.
 */
@Module({})
export class DashboardModule {
  static register(config: CloudConfig): DynamicModule {
    const dir = findDashboardDir(config.dashboardDir);
    const board = config.redisUrl !== undefined;
    // bull-board mounts its middleware from its own module, which cannot see this module's providers: the
    // gate is made here, handed to bull-board, and armed by QueuesBoard at init
    const gate = new QueuesBoardGate();
    return {
      module: DashboardModule,
      imports: [
        ...(dir ? [ServeStaticModule.forRoot(dashboardStaticOptions(dir))] : []),
        ...(board
          ? [
              BullBoardModule.forRoot({ route: QUEUES_BOARD_ROUTE, adapter: expressBoardAdapter, middleware: gate.middleware }),
              BullModule.registerQueue(...QUEUE_NAMES.map((name) => ({ name }))),
            ]
          : []),
      ],
      controllers: [SessionsController, EventsController],
      providers: [SessionRepository, SessionService, ...(board ? [{ provide: QueuesBoardGate, useValue: gate }, boardQueuesProvider, QueuesBoard] : [])],
      exports: [SessionService],
    };
  }
}

/**
 * @bull-board/express 9.10.1 types its queues from its own copy of @bull-board/api (9.10.2 is the newest
 * of the others); the runtime shapes are the same, only the nominal types differ.
 */
const expressBoardAdapter = ExpressAdapter as unknown as BullBoardModuleOptions['adapter'];
