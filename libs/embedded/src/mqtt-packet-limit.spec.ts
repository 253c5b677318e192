import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { holdReading, limitMqttPackets, MqttFrameMeter } from './mqtt-packet-limit';

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

describe('holdReading', () => {
  /** A connected pair over loopback: `server` is the accepted socket, `client` the other end. */
  async function socketPair(): Promise<{ server: Socket; client: Socket; close(): Promise<void> }> {
    const listener = createServer();
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const accepted = new Promise<Socket>((resolve) => listener.once('connection', resolve));
    const client = connect((listener.address() as AddressInfo).port, '127.0.0.1');
    const server = await accepted;
    return {
      server,
      client,
      close: async () => {
        client.destroy();
        server.destroy();
        await new Promise((resolve) => listener.close(resolve));
      },
    };
  }
  const roomy = { maxPacketBytes: 1 << 20, maxConnectBytes: 1 << 20 };

  it('stops reading a connection for the time given, then hands on everything sent meanwhile, in order', async () => {
    const pair = await socketPair();
    try {
      const stream = limitMqttPackets(pair.server, roomy, () => undefined);
      const received: Array<{ at: number; bytes: Buffer }> = [];
      stream.on('data', (bytes: Buffer) => received.push({ at: performance.now(), bytes }));
      pair.client.write(packet(1, 50));
      while (received.length === 0) await new Promise((r) => setTimeout(r, 5));

      const heldAt = performance.now();
      expect(holdReading(stream, 200)).toBe(true);
      // a hold under way is not extended or restarted
      expect(holdReading(stream, 5000)).toBe(false);
      const sent = Buffer.concat(Array.from({ length: 100 }, (_, i) => packet(3, 20 + (i % 50))));
      pair.client.write(sent);
      await new Promise((r) => setTimeout(r, 100));
      // (unless this process was not scheduled for the rest of the hold: the check below is the one that counts)
      if (performance.now() - heldAt < 190) expect(received).toHaveLength(1);
      while (Buffer.concat(received.slice(1).map((r) => r.bytes)).length < sent.length) await new Promise((r) => setTimeout(r, 5));
      expect(received[1]!.at - heldAt).toBeGreaterThanOrEqual(195);
      expect(Buffer.concat(received.slice(1).map((r) => r.bytes)).equals(sent)).toBe(true);
      // held again once the first hold is over
      expect(holdReading(stream, 10)).toBe(true);
    } finally {
      await pair.close();
    }
  });

  it('refuses a stream it did not make, and a closed one', async () => {
    expect(holdReading(new PassThrough(), 100)).toBe(false);
    const pair = await socketPair();
    const stream = limitMqttPackets(pair.server, roomy, () => undefined);
    await pair.close();
    await new Promise((r) => setTimeout(r, 20));
    expect(stream.destroyed).toBe(true);
    expect(holdReading(stream, 100)).toBe(false);
  });
});
