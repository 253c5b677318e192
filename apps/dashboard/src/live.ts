import type { DomainEvent, DomainEventType } from '@edgeloop/contracts';
import { sessionPaths } from '@edgeloop/contracts';
import { useEffect, useRef, useState } from 'preact/hooks';

export type LiveStatus = 'connecting' | 'live' | 'offline';

type Listener = (event: DomainEvent) => void;

/**
 * One EventSource on `GET /api/v1/events` for the whole app. The browser reconnects by itself (the server
 * sends a `retry:` hint); when it gives up (a closed stream, e.g. after the session ended) we reopen it
 * with a back-off. Pages subscribe by event type and refetch what they show.
 */
class LiveStream {
  status: LiveStatus = 'offline';
  private source: EventSource | undefined;
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly statusListeners = new Set<(status: LiveStatus) => void>();
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private failures = 0;

  start(): void {
    if (this.source) return;
    this.setStatus('connecting');
    const source = new EventSource(sessionPaths.events(), { withCredentials: true });
    this.source = source;
    source.addEventListener('ready', () => {
      this.failures = 0;
      this.setStatus('live');
    });
    source.onopen = () => this.setStatus('live');
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        this.source = undefined;
        this.setStatus('offline');
        this.failures += 1;
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.start(), Math.min(30_000, 1000 * 2 ** this.failures));
      } else {
        this.setStatus('connecting');
      }
    };
    for (const type of this.listeners.keys()) this.listen(type);
  }

  stop(): void {
    clearTimeout(this.retryTimer);
    this.source?.close();
    this.source = undefined;
    this.setStatus('offline');
  }

  subscribe(types: readonly DomainEventType[], listener: Listener): () => void {
    for (const type of types) {
      let set = this.listeners.get(type);
      if (!set) {
        set = new Set();
        this.listeners.set(type, set);
        this.listen(type);
      }
      set.add(listener);
    }
    return () => {
      for (const type of types) this.listeners.get(type)?.delete(listener);
    };
  }

  onStatus(listener: (status: LiveStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  private readonly attached = new WeakMap<EventSource, Set<string>>();

  private listen(type: string): void {
    const source = this.source;
    if (!source) return;
    const done = this.attached.get(source) ?? new Set<string>();
    this.attached.set(source, done);
    if (done.has(type)) return;
    done.add(type);
    source.addEventListener(type, (message) => {
      let event: DomainEvent;
      try {
        event = JSON.parse((message as MessageEvent<string>).data) as DomainEvent;
      } catch {
        return;
      }
      for (const listener of this.listeners.get(type) ?? []) listener(event);
    });
  }

  private setStatus(status: LiveStatus): void {
    if (status === this.status) return;
    this.status = status;
    for (const listener of this.statusListeners) listener(status);
  }
}

export const live = new LiveStream();

export function useLiveStatus(): LiveStatus {
  const [status, setStatus] = useState(live.status);
  useEffect(() => live.onStatus(setStatus), []);
  return status;
}

/** Calls `onEvent` for each live event of these types while the component is mounted. */
export function useLiveEvents(types: readonly DomainEventType[], onEvent: Listener): void {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const key = types.join(',');
  useEffect(() => live.subscribe(types, (event) => handler.current(event)), [key]);
}
