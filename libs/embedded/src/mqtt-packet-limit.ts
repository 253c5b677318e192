import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

export interface MqttPacketLimits {
  /** Largest whole packet (fixed header + remaining length) after the CONNECT. */
  maxPacketBytes: number;
  /** Largest first packet (the CONNECT, sent before the client is authenticated). */
  maxConnectBytes: number;
}

/**
 * Follows MQTT framing on a raw byte stream without parsing packets: reads each fixed header's
 * remaining length (a variable-byte integer of at most 4 bytes) and skips the body. It knows a
 * packet's size from its first 2–5 bytes, so an oversized one is refused before its body arrives.
 */
export class MqttFrameMeter {
  private state: 'header' | 'length' | 'body' = 'header';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;
  private packets = 0;

  constructor(private readonly limits: MqttPacketLimits) {}

  /** Feeds the next bytes; returns why the stream must be closed, or undefined while it is within the limits. */
  feed(chunk: Uint8Array): string | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'header') {
        i += 1;
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
      } else if (this.state === 'length') {
        const byte = chunk[i++]!;
        this.length += (byte & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        this.lengthBytes += 1;
        const limit = this.packets === 0 ? this.limits.maxConnectBytes : this.limits.maxPacketBytes;
        // with more length bytes to come, this is a lower bound: refuse as soon as even that is too large
        const size = 1 + this.lengthBytes + this.length;
        if (size > limit) {
          const what = this.packets === 0 ? 'first packet (CONNECT)' : 'packet';
          return `the ${what} declares ${byte & 0x80 ? 'at least ' : ''}${size} bytes, over the limit of ${limit}`;
        }
        if (byte & 0x80) {
          if (this.lengthBytes === 4) return 'malformed remaining length (more than 4 bytes)';
          continue;
        }
        this.packets += 1;
        this.remaining = this.length;
        this.state = this.remaining > 0 ? 'body' : 'header';
      } else {
        const skip = Math.min(this.remaining, chunk.length - i);
        i += skip;
        this.remaining -= skip;
        if (this.remaining === 0) this.state = 'header';
      }
    }
    return undefined;
  }
}

/** The hold of each stream `limitMqttPackets` made. */
const holds = new WeakMap<object, (ms: number) => boolean>();

/**
 * Stops reading a connection for `ms` milliseconds: its bytes wait in the kernel's buffers and TCP's flow control
 * holds its sender, the way brokers rate-limit a client (EMQX and VerneMQ pause the socket). A device over its
 * quota is then slowed down before the broker reads, acknowledges and drops each message it floods (docs/quotas.md).
 * True when a hold starts; false when one is under way (it is not extended), the stream is closed, or it is not one
 * of `limitMqttPackets`'s.
 */
export function holdReading(stream: object, ms: number): boolean {
  return holds.get(stream)?.(ms) ?? false;
}

/**
 * The socket as a stream for the broker, with every packet's declared size checked before the broker
 * sees (and buffers) its bytes: a packet over the limit destroys the socket and calls `onRefused`.
 * `holdReading` pauses it for a while.
 */
export function limitMqttPackets(socket: Socket, limits: MqttPacketLimits, onRefused: (reason: string) => void): Duplex {
  const meter = new MqttFrameMeter(limits);
  /** Whether the broker wants more: no push has been refused since it last asked. */
  let wanted = true;
  let held: NodeJS.Timeout | undefined;
  const release = () => {
    held = undefined;
    if (wanted && !guarded.destroyed) socket.resume();
  };
  const guarded: Duplex = new Duplex({
    read() {
      wanted = true;
      if (held === undefined) socket.resume();
    },
    write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void) {
      socket.write(chunk, encoding, callback);
    },
    // mqtt-packet writes a packet in pieces (a PUBLISH: header, length, topic, id, payload) with the stream corked
    // until the next tick: passed on one by one, each piece was a system call and, without Nagle's algorithm, a TCP
    // segment of its own. Whatever was written while corked goes to the socket in one write.
    writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void) {
      socket.cork();
      for (let i = 0; i < chunks.length - 1; i++) socket.write(chunks[i]!.chunk);
      socket.write(chunks[chunks.length - 1]!.chunk, callback);
      socket.uncork();
    },
    final(callback: (error?: Error | null) => void) {
      socket.end(callback);
    },
    destroy(error: Error | null, callback: (error?: Error | null) => void) {
      socket.destroy();
      callback(error);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    if (guarded.destroyed) return;
    const refused = meter.feed(chunk);
    if (refused) {
      onRefused(refused);
      socket.destroy();
      guarded.destroy();
      return;
    }
    if (!guarded.push(chunk)) {
      wanted = false;
      socket.pause();
    }
  });
  socket.once('end', () => guarded.push(null));
  socket.on('error', (error) => guarded.destroy(error));
  socket.once('close', () => {
    clearTimeout(held);
    guarded.destroy();
  });
  holds.set(guarded, (ms) => {
    if (held !== undefined || ms <= 0 || guarded.destroyed) return false;
    socket.pause();
    held = setTimeout(release, ms);
    return true;
  });
  return guarded;
}
