import { DynamicModule, Global, Module } from '@nestjs/common';
import { CloudConfig } from '../config/cloud.config';

/** The validated configuration and the infrastructure every feature runs on, visible to every module. */
@Global()
@Module({})
export class CoreModule {
  static forRoot(config: CloudConfig): DynamicModule {
    return {
      module: CoreModule,
      providers: [{ provide: CloudConfig, useValue: config }],
      exports: [CloudConfig],
    };
  }
}
