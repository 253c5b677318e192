import { createServer, connect, type Socket } from 'node:net';
import { limitMqttPackets, MqttFrameMeter, PACKETS_PER_TURN } from './mqtt-packet-limit';

const limits = { maxPacketBytes: 1000, maxConnectBytes: 100 };

/** A packet of `size` bytes in total whose remaining length fits in one byte. */
function packet(type: number, size: number): Buffer {
  const remaining = size - 2;
  if (remaining > 127) throw new Error('test helper: use a small packet');
  return Buffer.concat([Buffer.from([type << 4, remaining]), Buffer.alloc(remaining, 0x61)]);
}

/** A fixed header declaring `remaining` bytes (variable-byte integer), without the body. */
function header(type: number, remaining: number): Buffer {
  const bytes = [type << 4];
  do {
    let byte = remaining % 128;
    remaining = Math.floor(remaining / 128);
    if (remaining > 0) byte |= 0x80;
    bytes.push(byte);
  } while (remaining > 0);
  return Buffer.from(bytes);
}

describe('MqttFrameMeter', () => {
  it('refuses a CONNECT declaring 256 MiB from its 5-byte header', () => {
    const meter = new MqttFrameMeter({ maxPacketBytes: 2 ** 30, maxConnectBytes: 2 ** 28 });
    expect(meter.feed(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]))).toMatch(/first packet \(CONNECT\) declares 268435460 bytes, over the limit of 268435456/);
    expect(new MqttFrameMeter(limits).feed(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]))).toMatch(/declares at least 129 bytes/);
  });

  it('refuses it even when the header arrives one byte at a time, as soon as the size is over the limit', () => {
    const meter = new MqttFrameMeter(limits);
    expect(meter.feed(Buffer.from([0x10]))).toBeUndefined();
    // after the first length byte (0x7f + continuation) the size is already 1 + 1 + 127 > 100
    expect(meter.feed(Buffer.from([0xff]))).toMatch(/declares at least 129 bytes, over the limit of 100/);
  });

  it('lets a CONNECT up to its limit through, then applies the packet limit to what follows', () => {
    const meter = new MqttFrameMeter(limits);
    expect(meter.feed(packet(1, 100))).toBeUndefined();
    expect(meter.feed(Buffer.concat([packet(3, 129), packet(12, 2), header(3, 995)]))).toBeUndefined();
    expect(meter.feed(Buffer.alloc(995))).toBeUndefined();
    expect(meter.feed(Buffer.concat([header(3, 997), Buffer.alloc(997)]))).toBeUndefined(); // 1000 bytes: exactly the limit
    expect(meter.feed(header(3, 998))).toMatch(/the packet declares 1001 bytes, over the limit of 1000/);
  });

  it('refuses a CONNECT one byte over its limit', () => {
    expect(new MqttFrameMeter(limits).feed(header(1, 99))).toMatch(/declares 101 bytes/);
  });

  it('follows packet boundaries across arbitrary chunking', () => {
    const stream = Buffer.concat([packet(1, 60), header(3, 900), Buffer.alloc(900, 1), packet(12, 2), header(3, 999)]);
    for (const size of [1, 2, 3, 7, 64]) {
      const meter = new MqttFrameMeter(limits);
      const results: Array<string | undefined> = [];
      for (let i = 0; i < stream.length; i += size) results.push(meter.feed(stream.subarray(i, i + size)));
      expect(results.slice(0, -1).every((r) => r === undefined)).toBe(true);
      expect(results.at(-1)).toMatch(/declares 1002 bytes/);
    }
  });

  it('refuses a remaining length longer than four bytes', () => {
    const meter = new MqttFrameMeter({ maxPacketBytes: Number.MAX_SAFE_INTEGER, maxConnectBytes: Number.MAX_SAFE_INTEGER });
    expect(meter.feed(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x80, 0x01]))).toMatch(/malformed remaining length/);
  });
});

describe('MqttFrameMeter ends', () => {
  it('says where each packet ended in the chunk fed, across chunk boundaries', () => {
    const meter = new MqttFrameMeter(limits);
    const stream = Buffer.concat([packet(1, 60), packet(12, 2), header(3, 900), Buffer.alloc(900, 1), packet(3, 10)]);
    expect(meter.feed(stream.subarray(0, 70))).toBeUndefined();
    expect(meter.ends).toEqual([60, 62]);
    expect(meter.feed(stream.subarray(70, 500))).toBeUndefined();
    expect(meter.ends).toEqual([]);
    expect(meter.feed(stream.subarray(500))).toBeUndefined();
    // the 900-byte body ends 62 + 3 + 900 = 965 into the stream, 465 into this chunk; the last packet 10 bytes later
    expect(meter.ends).toEqual([465, 475]);
  });
});

describe('limitMqttPackets', () => {
  /** A connected pair on loopback: the server side through limitMqttPackets, the client side raw. */
  async function pair(): Promise<{ guarded: ReturnType<typeof limitMqttPackets>; client: Socket; close: () => Promise<void> }> {
    let server!: ReturnType<typeof createServer>;
    const accepted = new Promise<Socket>((resolve) => {
      server = createServer(resolve);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = connect((server.address() as { port: number }).port, '127.0.0.1');
    const socket = await accepted;
    const guarded = limitMqttPackets(socket, { maxPacketBytes: 1 << 20, maxConnectBytes: 1 << 20 }, () => undefined);
    return {
      guarded,
      client,
      close: async () => {
        client.destroy();
        guarded.destroy();
        await new Promise((resolve) => server.close(resolve));
      },
    };
  }

  it('hands the broker at most PACKETS_PER_TURN packets of a connection per turn of the event loop, in order, whole', async () => {
    const { guarded, client, close } = await pair();
    const count = 2000;
    // small PUBLISH-sized packets, each numbered in its body, and one large one in the middle
    const packets = Array.from({ length: count }, (_, i) => {
      if (i === 1000) return Buffer.concat([header(3, 100_000), Buffer.alloc(100_000, 7)]);
      const body = Buffer.from(`${String(i).padStart(6, '0')}${'x'.repeat(90)}`);
      return Buffer.concat([header(3, body.length), body]);
    });
    const sent = Buffer.concat(packets);
    // what the broker gets in each turn of the event loop, read as aedes reads (everything buffered, on 'readable'):
    // a ticker re-queued in every check phase numbers the turns
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const byTurn = new Map<number, Buffer[]>();
    guarded.on('readable', () => {
      let chunk: Buffer | null;
      while ((chunk = guarded.read() as Buffer | null) !== null) byTurn.set(turn, [...(byTurn.get(turn) ?? []), chunk]);
    });
    const total = () => [...byTurn.values()].flat().reduce((n, b) => n + b.length, 0);
    client.write(sent);
    const deadline = Date.now() + 10_000;
    while (total() < sent.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    ticking = false;
    await close();
    const turns = [...byTurn.entries()].sort(([a], [b]) => a - b).map(([, chunks]) => Buffer.concat(chunks));

    const received = Buffer.concat(turns);
    expect(received.equals(sent)).toBe(true);
    // every turn holds at most PACKETS_PER_TURN packets, and ends on a packet boundary unless it ends inside the large
    // packet (passed on as its bytes arrive)
    const bigStart = Buffer.concat(packets.slice(0, 1000)).length;
    const bigEnd = bigStart + packets[1000]!.length;
    const meter = new MqttFrameMeter({ maxPacketBytes: 1 << 20, maxConnectBytes: 1 << 20 });
    let offset = 0;
    for (const turn of turns) {
      expect(meter.feed(turn)).toBeUndefined();
      expect(meter.ends.length).toBeLessThanOrEqual(PACKETS_PER_TURN);
      offset += turn.length;
      if (meter.ends.at(-1) !== turn.length) expect(offset > bigStart && offset < bigEnd).toBe(true);
    }
    expect(turns.length).toBeGreaterThanOrEqual(Math.ceil(count / PACKETS_PER_TURN));
  });
});
