import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** One MQTT control packet seen on the wire (fixed header parsed; PUBLISH topic and flags read). */
export interface WirePacket {
  /** `connect`, `publish`, `subscribe`, … (MQTT 3.1.1 packet type names). */
  type: string;
  /** Whole packet, fixed header included. */
  bytes: number;
  topic?: string;
  dup?: boolean;
  retain?: boolean;
  /** ms since the connection was opened. */
  at: number;
}

export interface LinkConnection {
  id: number;
  openedAt: number;
  /** Client → broker packets forwarded. */
  up: WirePacket[];
  /** Broker → client packets forwarded. */
  down: WirePacket[];
  /** Client → broker packets swallowed while the link was cut. */
  lost: WirePacket[];
  closed: boolean;
}

const TYPES = ['reserved', 'connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'suback', 'unsubscribe', 'unsuback', 'pingreq', 'pingresp', 'disconnect', 'auth'];

/** Splits a byte stream into MQTT packets (fixed header + remaining length), keeping a partial tail. */
class PacketSplitter {
  private pending = Buffer.alloc(0);

  constructor(
    private readonly openedAt: number,
    private readonly out: WirePacket[],
  ) {}

  push(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    for (;;) {
      let length = 0;
      let multiplier = 1;
      let pos = 1;
      let complete = false;
      while (pos < this.pending.length && pos <= 4) {
        const byte = this.pending[pos++];
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || this.pending.length < pos + length) return;
      const packet = this.pending.subarray(0, pos + length);
      this.pending = this.pending.subarray(pos + length);
      const kind = packet[0] >> 4;
      const seen: WirePacket = { type: TYPES[kind], bytes: packet.length, at: Date.now() - this.openedAt };
      if (kind === 3) {
        const topicLength = packet.readUInt16BE(pos);
        seen.topic = packet.subarray(pos + 2, pos + 2 + topicLength).toString('utf8');
        seen.dup = (packet[0] & 0x08) !== 0;
        seen.retain = (packet[0] & 0x01) !== 0;
      }
      this.out.push(seen);
    }
  }
}

/**
 * Delays chunks to a bandwidth (bytes per second), in order: a token-bucket-free model of a slow link,
 * each chunk leaving when the previous one has finished "on the wire".
 */
class Pacer {
  private freeAt = 0;

  constructor(
    private readonly bytesPerSecond: number | undefined,
    private readonly latencyMs = 0,
  ) {}

  send(chunk: Buffer, deliver: () => void): void {
    if (!this.bytesPerSecond && !this.latencyMs) {
      deliver();
      return;
    }
    const now = Date.now();
    const sent = this.bytesPerSecond ? Math.max(now, this.freeAt) + (chunk.length / this.bytesPerSecond) * 1000 : now;
    if (this.bytesPerSecond) this.freeAt = sent;
    // equal latencies keep the order: timers due at the same delay fire in the order they were set
    setTimeout(deliver, sent - now + this.latencyMs);
  }
}

/**
 * A TCP proxy in front of a broker for weak-link tests: counts and parses every MQTT packet each way per
 * connection, can be shaped to a bandwidth (and the broker → client way delayed), and can be cut silently (`cut()`: sockets stay open, bytes are
 * swallowed both ways, new connections are accepted and never answered — a black hole, as a dead radio link
 * looks to TCP) and healed (`heal()`: the swallowed connections are reset, new ones pass).
 */
export class LinkProxy {
  readonly connections: LinkConnection[] = [];
  private server: Server | undefined;
  private cutAt: number | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly blackholed = new Set<Socket>();
  port = 0;

  constructor(
    private readonly target: { host: string; port: number },
    /** downLatencyMs: each broker → client chunk is delivered this much later (e.g. to hold acks back). */
    private readonly options: { bytesPerSecond?: number; listenHost?: string; downLatencyMs?: number } = {},
  ) {}

  get url(): string {
    return `mqtt://${this.options.listenHost ?? '127.0.0.1'}:${this.port}`;
  }

  get isCut(): boolean {
    return this.cutAt !== undefined;
  }

  async start(): Promise<void> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server!.listen(0, this.options.listenHost ?? '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  cut(): void {
    this.cutAt ??= Date.now();
  }

  heal(): void {
    this.cutAt = undefined;
    for (const socket of this.blackholed) socket.destroy();
    this.blackholed.clear();
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private accept(client: Socket): void {
    this.sockets.add(client);
    client.on('error', () => undefined);
    client.on('close', () => this.sockets.delete(client));
    if (this.cutAt !== undefined) {
      // a black hole: the connection opens and nothing ever answers
      this.blackholed.add(client);
      client.on('data', () => undefined);
      return;
    }
    const openedAt = Date.now();
    const record: LinkConnection = { id: this.connections.length, openedAt, up: [], down: [], lost: [], closed: false };
    this.connections.push(record);
    const upstream = createConnection(this.target);
    this.sockets.add(upstream);
    upstream.on('error', () => undefined);
    const upPackets = new PacketSplitter(openedAt, record.up);
    const lostPackets = new PacketSplitter(openedAt, record.lost);
    const downPackets = new PacketSplitter(openedAt, record.down);
    const upPacer = new Pacer(this.options.bytesPerSecond);
    const downPacer = new Pacer(this.options.bytesPerSecond, this.options.downLatencyMs);
    client.on('data', (chunk: Buffer) => {
      if (this.cutAt !== undefined) {
        this.blackholed.add(client);
        lostPackets.push(chunk);
        return;
      }
      upPacer.send(chunk, () => {
        if (this.cutAt !== undefined) return lostPackets.push(chunk);
        upPackets.push(chunk);
        upstream.write(chunk);
      });
    });
    upstream.on('data', (chunk: Buffer) => {
      if (this.cutAt !== undefined) {
        this.blackholed.add(client);
        return;
      }
      downPacer.send(chunk, () => {
        if (this.cutAt !== undefined) return;
        downPackets.push(chunk);
        client.write(chunk);
      });
    });
    const close = () => {
      record.closed = true;
      this.blackholed.delete(client);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', () => {
      // while cut, the client must not learn that the broker side went away
      if (this.cutAt === undefined) close();
      else upstream.removeAllListeners('data');
    });
  }
}

/** Sum of the packets' sizes. */
export function wireBytes(packets: WirePacket[]): number {
  return packets.reduce((sum, packet) => sum + packet.bytes, 0);
}
