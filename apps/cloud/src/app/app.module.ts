import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { CloudConfig } from '../config/cloud.config';
import { HealthController } from '../controllers/health.controller';
import { ErrorFilter } from '../errors/error.filter';
import { HealthService } from '../services/health.service';

@Module({})
export class AppModule {
  static forRoot(config: CloudConfig): DynamicModule {
    return {
      module: AppModule,
      controllers: [HealthController],
      providers: [
        { provide: CloudConfig, useValue: config },
        { provide: APP_FILTER, useClass: ErrorFilter },
        HealthService,
      ],
    };
  }
}
