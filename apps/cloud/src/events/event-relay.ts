import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { DOMAIN_EVENTS_CHANNEL, DomainEventSchema, describeZodError, type DomainEvent } from '@edgeloop/contracts';
import Redis from 'ioredis';
import { Observable, Subject } from 'rxjs';
import { CloudConfig } from '../config/cloud.config';

/**
 * Carries domain events between replicas: every event emitted anywhere is published on Redis
 * (`DOMAIN_EVENTS_CHANNEL`) and `events$` yields what the channel brings — this replica's events and
 * everyone else's, in one order — so a live stream served by any API replica shows the whole cloud.
 * With no Redis configured (registry-only mode) events stay in this process.
 */
@Injectable()
export class EventRelay implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(EventRelay.name);
  private readonly subject = new Subject<DomainEvent>();
  private publisher: Redis | undefined;
  private subscriber: Redis | undefined;

  constructor(private readonly config: CloudConfig) {}

  /** Every domain event of every replica, from now on. */
  get events$(): Observable<DomainEvent> {
    return this.subject.asObservable();
  }

  async onModuleInit(): Promise<void> {
    const url = this.config.redisUrl;
    if (!url) return;
    this.publisher = new Redis(url, { maxRetriesPerRequest: 2, connectionName: 'edgeloop-events-pub' });
    this.subscriber = new Redis(url, { maxRetriesPerRequest: null, connectionName: 'edgeloop-events-sub' });
    for (const [role, client] of [['publisher', this.publisher], ['subscriber', this.subscriber]] as const) {
      client.on('error', (err: Error) => this.logger.warn(`${role}: ${err.message}`));
    }
    this.subscriber.on('message', (_channel: string, message: string) => this.receive(message));
    await this.subscriber.subscribe(DOMAIN_EVENTS_CHANNEL);
  }

  publish(event: DomainEvent): void {
    if (!this.publisher) {
      this.subject.next(event);
      return;
    }
    this.publisher.publish(DOMAIN_EVENTS_CHANNEL, JSON.stringify(event)).catch((err: Error) => {
      this.logger.warn(`${event.type} ${event.id} not relayed to the live stream: ${err.message}`);
    });
  }

  private receive(message: string): void {
    let json: unknown;
    try {
      json = JSON.parse(message);
    } catch {
      this.logger.warn('a message on the events channel is not JSON; ignored');
      return;
    }
    const parsed = DomainEventSchema.safeParse(json);
    if (!parsed.success) {
      this.logger.warn(`an invalid event on the events channel was ignored: ${describeZodError(parsed.error)}`);
      return;
    }
    this.subject.next(parsed.data);
  }

  async onApplicationShutdown(): Promise<void> {
    this.subject.complete();
    await Promise.all([this.subscriber?.quit().catch(() => undefined), this.publisher?.quit().catch(() => undefined)]);
  }
}
