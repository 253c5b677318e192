import { live } from './live';

type Listener = (event: { data?: string }) => void;

/** A stand-in for the browser's EventSource: records instances, lets the test fire events and errors. */
class FakeEventSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  static instances: FakeEventSource[] = [];
  readyState = FakeEventSource.CONNECTING;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  private readonly listeners = new Map<string, Listener[]>();

  constructor(
    readonly url: string,
    readonly init: { withCredentials?: boolean },
  ) {
    FakeEventSource.instances.push(this);
  }

  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  emit(type: string, data?: unknown): void {
    for (const listener of this.listeners.get(type) ?? []) listener({ data: data === undefined ? undefined : JSON.stringify(data) });
  }

  fail(state: number): void {
    this.readyState = state;
    this.onerror?.();
  }

  close(): void {
    this.readyState = FakeEventSource.CLOSED;
  }
}

describe('the live stream of the dashboard', () => {
  beforeEach(() => {
    jest.useFakeTimers();
    FakeEventSource.instances = [];
    (globalThis as unknown as { EventSource: unknown }).EventSource = FakeEventSource;
  });
  afterEach(() => {
    live.stop();
    jest.useRealTimers();
  });

  it('opens one stream with the cookie, says when it is live, and hands events to subscribers by type', () => {
    const statuses: string[] = [];
    const offStatus = live.onStatus((s) => statuses.push(s));
    const seen: unknown[] = [];
    const off = live.subscribe(['device.changed'], (event) => seen.push(event));
    live.start();
    live.start();
    expect(FakeEventSource.instances).toHaveLength(1);
    const source = FakeEventSource.instances[0];
    expect(source.url).toBe('/api/v1/events');
    expect(source.init.withCredentials).toBe(true);
    source.emit('ready', '');
    const event = { id: 'ev_1', type: 'device.changed', at: new Date(0).toISOString(), data: { deviceId: 'cam-1', online: true } };
    source.emit('device.changed', event);
    source.emit('deployment.progress', { id: 'ev_2', type: 'deployment.progress', at: new Date(0).toISOString(), data: {} });
    expect(seen).toEqual([event]);
    expect(statuses).toEqual(['connecting', 'live']);
    off();
    offStatus();
  });

  it('shows reconnecting while the browser retries, not live when the stream closed, and reopens it by itself', () => {
    const statuses: string[] = [];
    const offStatus = live.onStatus((s) => statuses.push(s));
    const seen: string[] = [];
    const off = live.subscribe(['retraining.progress'], (event) => seen.push(event.id));
    live.start();
    const first = FakeEventSource.instances[0];
    first.emit('ready', '');
    first.fail(FakeEventSource.CONNECTING);
    expect(live.status).toBe('connecting');
    first.fail(FakeEventSource.CLOSED);
    expect(live.status).toBe('offline');
    expect(FakeEventSource.instances).toHaveLength(1);
    jest.advanceTimersByTime(2000);
    expect(FakeEventSource.instances).toHaveLength(2);
    const second = FakeEventSource.instances[1];
    second.emit('ready', '');
    second.emit('retraining.progress', { id: 'ev_9', type: 'retraining.progress', at: new Date(0).toISOString(), data: {} });
    expect(seen).toEqual(['ev_9']);
    expect(statuses).toEqual(['connecting', 'live', 'connecting', 'offline', 'connecting', 'live']);
    off();
    offStatus();
  });
});
