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
  /** Where packets ended in the chunk last fed (offsets just past each packet's last byte). */
  readonly ends: number[] = [];
  private state: 'header' | 'length' | 'body' = 'header';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;
  private packets = 0;

  constructor(private readonly limits: MqttPacketLimits) {}

  /** Feeds the next bytes; returns why the stream must be closed, or undefined while it is within the limits. */
  feed(chunk: Uint8Array): string | undefined {
    this.ends.length = 0;
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
        if (this.remaining === 0) this.ends.push(i);
      } else {
        const skip = Math.min(this.remaining, chunk.length - i);
        i += skip;
        this.remaining -= skip;
        if (this.remaining === 0) {
          this.state = 'header';
          this.ends.push(i);
        }
      }
    }
    return undefined;
  }
}

/** Packets of one connection handed to the broker in one turn of the event loop, at most. */
export const PACKETS_PER_TURN = 64;
/** Bytes received and not yet handed to the broker past which the socket is no longer read. */
const MAX_PENDING_BYTES = 1024 * 1024;

/**
 * The socket as a stream for the broker, with every packet's declared size checked before the broker
 * sees (and buffers) its bytes: a packet over the limit destroys the socket and calls `onRefused`.
 *
 * At most `PACKETS_PER_TURN` packets of a connection reach the broker in one turn of the event loop (handed over in
 * the turn's check phase, `setImmediate`, right after the poll phase that read them); the rest follow a turn later. aedes parses whatever a connection has buffered and handles every packet
 * in it before the event loop goes on: a flood's 64 KB read is about 500 small PUBLISHes, 25-65 ms of the
 * process's only thread, during which no other device's packet is read — in the embedded broker that thread is
 * the cloud's. Cut at packet boundaries (the meter knows them), so a large packet still goes in one piece.
 */
export function limitMqttPackets(socket: Socket, limits: MqttPacketLimits, onRefused: (reason: string) => void): Duplex {
  const meter = new MqttFrameMeter(limits);
  const pending: Array<{ chunk: Buffer; ends: number[] }> = [];
  let pendingBytes = 0;
  let scheduled = false;
  let readWanted = true;
  let ended = false;
  /** Hands the broker the next turn's packets; one turn later the next ones, while the broker reads. */
  const pump = () => {
    scheduled = false;
    if (guarded.destroyed) return;
    let packets = 0;
    while (pending.length > 0 && packets < PACKETS_PER_TURN && readWanted) {
      const head = pending[0]!;
      const room = PACKETS_PER_TURN - packets;
      // the whole chunk (with the start of a packet that continues in the next one), or up to the room's last packet
      const cut = head.ends.length <= room ? head.chunk.length : head.ends[room - 1]!;
      packets += Math.min(head.ends.length, room);
      if (cut === head.chunk.length) pending.shift();
      else pending[0] = { chunk: head.chunk.subarray(cut), ends: head.ends.slice(room).map((end) => end - cut) };
      pendingBytes -= cut;
      readWanted = guarded.push(head.chunk.subarray(0, cut));
    }
    if (pending.length === 0) {
      if (ended) guarded.push(null);
      else if (readWanted) socket.resume();
    } else if (readWanted) {
      scheduled = true;
      setImmediate(pump);
    }
  };
  const guarded: Duplex = new Duplex({
    read() {
      readWanted = true;
      if (pending.length === 0) socket.resume();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(pump);
      }
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
    pending.push({ chunk, ends: [...meter.ends] });
    pendingBytes += chunk.length;
    if (pendingBytes > MAX_PENDING_BYTES || !readWanted) socket.pause();
    // in this turn's check phase, right after the poll phase that read it: one hand-over per turn
    if (!scheduled && readWanted) {
      scheduled = true;
      setImmediate(pump);
    }
  });
  socket.once('end', () => {
    ended = true;
    if (pending.length === 0) guarded.push(null);
  });
  socket.on('error', (error) => guarded.destroy(error));
  socket.once('close', () => guarded.destroy());
  return guarded;
}
