import { applyDecorators, Injectable, Logger } from '@nestjs/common';
import { EventEmitter2, OnEvent } from '@nestjs/event-emitter';
import { DOMAIN_EVENT_SCHEMAS, describeZodError, type DomainEvent, type DomainEventData, type DomainEventType } from '@edgeloop/contracts';
import { randomBytes } from 'node:crypto';
import { EventRelay } from './event-relay';

/**
 * The one way cloud features tell each other things. `emit` checks the data against its type's schema in
 * `@edgeloop/contracts`, awaits this process's `@OnDomainEvent` listeners (a listener that throws is logged,
 * never thrown back at the emitter), then relays the event to every replica's live stream.
 *
 * Emit after your own transaction has committed: listeners (the webhooks feature) run their own queries.
 */
@Injectable()
export class DomainEvents {
  private readonly logger = new Logger(DomainEvents.name);

  constructor(
    private readonly emitter: EventEmitter2,
    private readonly relay: EventRelay,
  ) {}

  async emit<T extends DomainEventType>(type: T, data: DomainEventData<T>): Promise<void> {
    const parsed = DOMAIN_EVENT_SCHEMAS[type].safeParse(data);
    if (!parsed.success) {
      this.logger.error(`invalid ${type} event, not emitted: ${describeZodError(parsed.error)}`);
      return;
    }
    const event = { id: `ev_${randomBytes(9).toString('base64url')}`, type, at: new Date().toISOString(), data: parsed.data } as DomainEvent<T>;
    await this.emitter.emitAsync(type, event);
    this.relay.publish(event);
  }
}

/**
 * Marks a method as a listener of one or more domain events; it receives the `DomainEvent` envelope.
 * Errors are logged by the emitter module and do not reach the emitting feature.
 */
export function OnDomainEvent(...types: [DomainEventType, ...DomainEventType[]]): MethodDecorator {
  // one OnEvent per type: EventEmitter2 reads an array of names as the segments of one namespaced name
  return applyDecorators(...types.map((type) => OnEvent(type, { promisify: true, suppressErrors: true })));
}
