import { DynamicModule, Global, Module } from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { CloudConfig } from '../config/cloud.config';
import { DomainEvents } from './domain-events';
import { EventRelay } from './event-relay';

/** Domain events for every feature: `DomainEvents.emit`, `@OnDomainEvent` listeners, and the cross-replica relay. */
@Global()
@Module({})
export class EventsModule {
  static forRoot(config: CloudConfig): DynamicModule {
    return {
      module: EventsModule,
      imports: [EventEmitterModule.forRoot({ wildcard: false, maxListeners: 50 })],
      providers: [{ provide: CloudConfig, useValue: config }, EventRelay, DomainEvents],
      exports: [DomainEvents, EventRelay],
    };
  }
}
