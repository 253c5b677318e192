import { Controller, MessageEvent, Sse } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { interval, map, merge, Observable, of } from 'rxjs';
import { RequireRole } from '../auth/auth.guard';
import { EventRelay } from '../events/event-relay';

/** How long a browser waits before it reconnects a dropped stream. */
export const EVENTS_RETRY_MS = 3000;
/** A comment line this often keeps proxies from closing an idle stream. */
export const EVENTS_KEEP_ALIVE_MS = 15_000;

/**
 * The dashboard's live stream: every replica's domain events (through the Redis relay, so any API replica
 * can serve it) as server-sent events named by their type, with the event id as the SSE id.
 */
@ApiTags('events')
@Controller('events')
export class EventsController {
  constructor(private readonly relay: EventRelay) {}

  @Sse()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Live domain events (server-sent events): deployments, devices, drift, labels, retraining, aliases' })
  stream(): Observable<MessageEvent> {
    return merge(
      of<MessageEvent>({ data: '', retry: EVENTS_RETRY_MS, comment: 'connected', type: 'ready' }),
      interval(EVENTS_KEEP_ALIVE_MS).pipe(map((): MessageEvent => ({ comment: 'keep-alive' }) as MessageEvent)),
      this.relay.events$.pipe(map((event): MessageEvent => ({ id: event.id, type: event.type, data: event }))),
    );
  }
}
