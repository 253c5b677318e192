import { topics } from '@edgeloop/contracts';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeviceChannel, DeviceChannelEvents } from '../agent/device-channel';
import { Outbox } from './outbox';
import { OutboxSender } from './outbox-sender';

const DEVICE = 'cam-sender';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The channel as the sender sees it: connected or not, publishes it resolves (the PUBACK) when the test says. */
class FakeChannel extends EventEmitter<DeviceChannelEvents> {
  connected = true;
  readonly published: Array<{ topic: string; seq: number | undefined; puback: () => void; fail: (err: Error) => void }> = [];

  publish(topic: string, payload: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const seq = (JSON.parse(payload.toString()) as { seq?: number }).seq;
      this.published.push({ topic, seq, puback: resolve, fail: reject });
    });
  }

  seqs(): Array<number | undefined> {
    return this.published.map((p) => p.seq);
  }
}

describe("OutboxSender: a row leaves the outbox on the cloud's ack, not the broker's PUBACK", () => {
  let dir: string;
  let outbox: Outbox;
  let channel: FakeChannel;
  let sender: OutboxSender;
  let epoch: string;

  const start = (options: { inflight: number; ackTimeoutMs: number }) => {
    sender = new OutboxSender(outbox, channel as unknown as DeviceChannel, { deviceId: DEVICE, ...options });
    sender.start();
  };
  const append = (n: number) => {
    for (let i = 0; i < n; i++) outbox.appendBatch((seq, e) => JSON.stringify({ seq, epoch: e }));
    sender.drain();
  };
  const ack = (seqs: number[], deviceId = DEVICE) =>
    channel.emit('ack', Buffer.from(JSON.stringify({ v: 1, deviceId, ts: Date.now(), acks: seqs.map((seq) => ({ kind: 'predictions', epoch, seq })) })));
  const pubackAll = async () => {
    for (const p of channel.published) p.puback();
    await sleep(0);
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'outbox-sender-'));
    outbox = Outbox.open(join(dir, 'outbox.sqlite'), { maxRows: 100, maxBytes: 1e6 });
    epoch = outbox.stats().epoch;
    channel = new FakeChannel();
  });
  afterEach(() => {
    sender.stop();
    outbox.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps PUBACKed rows until acked, bounds rows out by the window, and sends the next ones as acks come', async () => {
    start({ inflight: 3, ackTimeoutMs: 60_000 });
    append(5);
    expect(channel.seqs()).toEqual([1, 2, 3]);
    expect(channel.published.every((p) => p.topic === topics.predictions(DEVICE))).toBe(true);
    await pubackAll();
    // the broker has them; the cloud has not said so: nothing leaves, nothing more goes out
    expect(outbox.stats().rows).toBe(5);
    expect(outbox.awaitingAckCount).toBe(3);
    sender.drain();
    expect(channel.seqs()).toEqual([1, 2, 3]);

    ack([1, 2]);
    expect(outbox.stats().rows).toBe(3);
    expect(sender.acknowledged).toBe(2);
    expect(channel.seqs()).toEqual([1, 2, 3, 4, 5]);
    // an ack that overtakes the PUBACK counts as well
    ack([4]);
    await pubackAll();
    ack([3, 5, 5]);
    expect(outbox.stats().rows).toBe(0);
    expect(sender.acks).toMatchObject({ messages: 3, unmatched: 1, invalid: 0, resent: 0 });
  });

  it('sends rows again, in order, when their ack is overdue', async () => {
    start({ inflight: 4, ackTimeoutMs: 300 });
    append(3);
    await pubackAll();
    ack([2]);
    await sleep(200);
    expect(channel.seqs()).toEqual([1, 2, 3]);
    await sleep(400);
    expect(channel.seqs()).toEqual([1, 2, 3, 1, 3]);
    expect(sender.acks.resent).toBe(2);
    await pubackAll();
    ack([1, 3]);
    expect(outbox.stats().rows).toBe(0);
  });

  it('sends every row awaiting its ack again on a reconnect, and a row whose publish failed', async () => {
    start({ inflight: 4, ackTimeoutMs: 60_000 });
    append(3);
    channel.published[0]!.puback();
    channel.published[1]!.puback();
    await sleep(0);
    channel.published[2]!.fail(new Error('Message removed'));
    await sleep(0);
    channel.emit('connected');
    expect(channel.seqs()).toEqual([1, 2, 3, 1, 2, 3]);
    expect(outbox.inFlightCount).toBe(3);
  });

  it('sends again at once rows PUBACKed well before a newer row the cloud acked (lost on the way)', async () => {
    start({ inflight: 8, ackTimeoutMs: 1_000 });
    append(2);
    await pubackAll();
    await sleep(150);
    append(2);
    await pubackAll();
    // batch 4 is acked; 1 and 2 were PUBACKed over ackTimeoutMs / 10 before it; 3 was not
    ack([4]);
    expect(channel.seqs()).toEqual([1, 2, 3, 4, 1, 2]);
    expect(outbox.awaitingAckCount).toBe(1);
    expect(sender.acks.resent).toBe(2);
  });

  it.each([
    ['not JSON', Buffer.from('{not json')],
    ['not the schema', Buffer.from(JSON.stringify({ v: 1, deviceId: DEVICE, ts: 1, acks: [{ kind: 'predictions', seq: -1 }] }))],
    ['empty', Buffer.alloc(0)],
    ['another device', undefined],
  ])('ignores and counts an invalid ack (%s) without throwing', async (_name, payload) => {
    start({ inflight: 2, ackTimeoutMs: 60_000 });
    append(2);
    await pubackAll();
    if (payload) expect(() => channel.emit('ack', payload)).not.toThrow();
    else ack([1, 2], 'cam-other');
    expect(sender.acks.invalid).toBe(1);
    expect(outbox.stats().rows).toBe(2);
    ack([1, 2]);
    expect(outbox.stats().rows).toBe(0);
  });
});
