/** Messages forwarded to the cloud's connections and not yet acknowledged, at most (Mosquitto's `max_inflight_messages` in deploy/). */
export const CLOUD_FORWARD_WINDOW = 100;
/** How long a device's publish waits for the window at most; then it goes on regardless (a cloud that stopped acknowledging must not cut its devices' keep-alives). */
export const CLOUD_FORWARD_MAX_WAIT_MS = 2000;

/**
 * The embedded broker's flow control towards the cloud: a window of messages in flight on the cloud's connections
 * (forwarded, not yet acknowledged by a PUBACK), and the devices' publishes that wait for it, in turn.
 *
 * The cloud's connection to the broker is one TCP stream for every device's messages. Without a window aedes
 * wrote a flood into it as fast as it read it (it has no in-flight limit of its own), so a well-behaved device's
 * batch queued behind thousands of the flood's messages in that stream, and the cloud read them all first
 * (at 20–50 µs each) — 27 ms of a 67 ms round trip in a traced miss (docs/quotas.md). With the window full, a
 * device's publish waits here before aedes handles it; aedes reads no further packets of that device meanwhile
 * (it reads a connection's next chunk once the packets of the last one are handled), so a flood waits in its own
 * socket, and the devices with waiting publishes take turns (one publish each per turn) as the cloud acknowledges:
 * another device's message waits for at most one of the flood's per turn, not for the whole backlog. Mosquitto
 * queues the same way for its `max_inflight_messages`, in one queue for all devices.
 *
 * A publish let through counts against the window until aedes has finished publishing it (its `publish` event): by
 * then it was forwarded and counts as in flight, or it was not forwarded at all (dropped by the quota's early check,
 * or a topic the cloud does not subscribe to). No cloud connected: nothing waits (nothing is written to one).
 */
export class CloudForwardWindow {
  /** Messages in flight per cloud connection (aedes's client object). */
  private readonly inFlight = new Map<object, number>();
  private total = 0;
  /** Device publishes let through that aedes has not finished publishing yet, per device connection. */
  private readonly onTheirWay = new Map<object, number>();
  private onTheirWayCount = 0;
  /** Waiting publishes per device, oldest first; a device's place in the map is its turn. */
  private readonly waiting = new Map<string, Array<{ connection: object; proceed: () => void; since: number }>>();
  private waitingCount = 0;
  private timer: NodeJS.Timeout | undefined;
  readonly counters = { waited: 0, waitedTooLong: 0 };

  constructor(
    private readonly size = CLOUD_FORWARD_WINDOW,
    private readonly maxWaitMs = CLOUD_FORWARD_MAX_WAIT_MS,
  ) {}

  /** Messages waiting for the window. */
  get depth(): number {
    return this.waitingCount;
  }

  /** Messages in flight to the cloud. */
  get inFlightCount(): number {
    return this.total;
  }

  /** A device's publish (`connection`: its aedes client): `proceed` now, or once the window has room and the device's turn comes. */
  admit(connection: object, deviceId: string, proceed: () => void): void {
    if (this.waitingCount === 0 && this.hasRoom()) {
      this.letThrough(connection, proceed);
      return;
    }
    const queue = this.waiting.get(deviceId);
    const entry = { connection, proceed, since: Date.now() };
    if (queue) queue.push(entry);
    else this.waiting.set(deviceId, [entry]);
    this.waitingCount++;
    this.counters.waited++;
    // a cloud that acknowledges nothing must not hold its devices for ever
    this.timer ??= setInterval(() => this.release(true), Math.max(10, this.maxWaitMs / 4)).unref();
  }

  /** aedes finished publishing a message of this connection (forwarded to the cloud's connections, or not at all). */
  published(connection: object): void {
    const n = this.onTheirWay.get(connection);
    if (n === undefined) return;
    if (n <= 1) this.onTheirWay.delete(connection);
    else this.onTheirWay.set(connection, n - 1);
    this.onTheirWayCount--;
    this.release();
  }

  /** aedes wrote a QoS 1 message to a cloud connection. */
  forwarded(cloud: object): void {
    this.inFlight.set(cloud, (this.inFlight.get(cloud) ?? 0) + 1);
    this.total++;
  }

  /** A cloud connection acknowledged a message (PUBACK). */
  acknowledged(cloud: object): void {
    const n = this.inFlight.get(cloud);
    if (n === undefined) return;
    if (n > 0) {
      this.inFlight.set(cloud, n - 1);
      this.total--;
    }
    this.release();
  }

  /** A cloud connection connected (its messages count from now on). */
  connected(cloud: object): void {
    if (!this.inFlight.has(cloud)) this.inFlight.set(cloud, 0);
  }

  /**
   * A connection closed. A cloud's: its messages in flight no longer count (the broker sends them again on its next
   * session, or never). A device's: its publishes on their way will not be published.
   */
  disconnected(connection: object): void {
    this.total -= this.inFlight.get(connection) ?? 0;
    this.inFlight.delete(connection);
    this.onTheirWayCount -= this.onTheirWay.get(connection) ?? 0;
    this.onTheirWay.delete(connection);
    this.release();
  }

  /** Lets every waiting publish go (the broker is closing). */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.releaseWhile(() => true);
    this.inFlight.clear();
    this.total = 0;
  }

  /** Room in the window: nothing waits for a cloud that is not connected. */
  private hasRoom(): boolean {
    return this.inFlight.size === 0 || this.total + this.onTheirWayCount < this.size;
  }

  private letThrough(connection: object, proceed: () => void): void {
    this.onTheirWay.set(connection, (this.onTheirWay.get(connection) ?? 0) + 1);
    this.onTheirWayCount++;
    proceed();
  }

  /** Devices take turns while the window has room; with `overdueToo` a publish that waited `maxWaitMs` goes regardless. */
  private release(overdueToo = false): void {
    if (this.waitingCount === 0) return;
    this.releaseWhile(() => this.hasRoom());
    if (overdueToo) {
      const now = Date.now();
      for (const [device, queue] of this.waiting) {
        while (queue.length > 0 && now - queue[0]!.since >= this.maxWaitMs) {
          this.counters.waitedTooLong++;
          const entry = this.take(device, queue);
          this.letThrough(entry.connection, entry.proceed);
        }
      }
    }
    if (this.waitingCount === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private releaseWhile(room: () => boolean): void {
    while (this.waitingCount > 0 && room()) {
      const [device, queue] = this.waiting.entries().next().value!;
      const entry = this.take(device, queue);
      // its turn taken: to the back
      if (queue.length > 0) {
        this.waiting.delete(device);
        this.waiting.set(device, queue);
      }
      this.letThrough(entry.connection, entry.proceed);
    }
  }

  private take(device: string, queue: Array<{ connection: object; proceed: () => void; since: number }>) {
    const entry = queue.shift()!;
    this.waitingCount--;
    if (queue.length === 0) this.waiting.delete(device);
    return entry;
  }
}
