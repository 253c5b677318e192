import { topics } from '@edgeloop/contracts';
import { startMosquitto, type MosquittoServer } from '@edgeloop/harness';
import type { MqttSettings } from '../config/edge.config';
import { LinkProxy, wireBytes, type LinkConnection } from '../testing/link-proxy';
import { DeviceChannel } from './device-channel';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** 400 kbit/s, the weak link of the field measurements. */
const WEAK_LINK = 50_000;

async function waitUntil(test: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * The device channel over a shaped, cuttable link to a real broker (mosquitto behind a counting TCP proxy):
 * what a reconnect puts on the wire, and in which order, when the link died with publishes in flight.
 */
describe('DeviceChannel on a weak link (mosquitto behind a shaped proxy)', () => {
  let mosquitto: MosquittoServer;
  let proxy: LinkProxy;
  let channel: DeviceChannel | undefined;

  beforeAll(async () => {
    mosquitto = await startMosquitto();
  });

  afterEach(async () => {
    await channel?.stop();
    channel = undefined;
    await proxy?.stop();
  });

  afterAll(async () => {
    await mosquitto?.stop();
  });

  async function open(deviceId: string, settings: Partial<MqttSettings> = {}): Promise<DeviceChannel> {
    proxy = new LinkProxy({ host: mosquitto.host, port: Number(new URL(mosquitto.url).port) }, { bytesPerSecond: WEAK_LINK });
    await proxy.start();
    const opened = new DeviceChannel(
      { url: proxy.url, username: deviceId, reconnectMs: 200, keepaliveS: 2, dataWindowBytes: 16 * 1024, ...settings },
      deviceId,
      'test',
    );
    channel = opened;
    opened.start();
    await waitUntil(() => opened.connected, 10_000, 'the first connect');
    return opened;
  }

  it('after a dead link, subscribes and reports first and resends nothing that was written into the dead link', async () => {
    const device = 'cam-weak-order';
    const opened = await open(device);
    const reported = topics.reported(device);
    opened.on('control', () => void opened.publish(reported, JSON.stringify({ state: 'active' }), { retain: true }).catch(() => undefined));
    await sleep(300);
    proxy.cut();
    // mqtt.js still says "connected" until its keep-alive times out: 16 prediction batches go into the dead link
    const batch = Buffer.alloc(6_000, 1);
    const outcomes = Array.from({ length: 16 }, () => opened.publish(topics.predictions(device), batch, { retain: false }).then(() => 'acked', (err: Error) => err.message));
    await waitUntil(() => !opened.connected, 10_000, 'the keep-alive to notice the dead link');
    // every one of them is handed back to its caller (the outbox keeps the row), none stays in the session
    const settled = await Promise.race([Promise.all(outcomes), sleep(2_000).then(() => 'still in the session store, to be resent first')]);
    // taken out of mqtt.js's store, or never handed to it (beyond the data window)
    expect(Array.isArray(settled) ? [...new Set(settled)].filter((o) => o !== 'Message removed' && o !== 'the MQTT connection is down') : settled).toEqual([]);
    const before = proxy.connections.length;
    await sleep(500);
    proxy.heal();
    await waitUntil(() => opened.connected, 10_000, 'the reconnect');
    await sleep(1_500);
    const next = proxy.connections.slice(before).find((c) => c.up.some((p) => p.type === 'connect')) as LinkConnection;
    const order = next.up.map((p) => (p.type === 'publish' ? `publish ${p.topic!.split('/').pop()}` : p.type));
    expect(order.slice(0, 4)).toEqual(['connect', 'publish status', 'subscribe', 'publish reported']);
    expect(order).not.toContain('publish predictions');
    const subscribe = next.up.find((p) => p.type === 'subscribe')!;
    const connack = next.down.find((p) => p.type === 'connack')!;
    process.stdout.write(
      `reconnect after a dead link with 16 × 6 kB in flight: SUBSCRIBE ${subscribe.at - connack.at} ms after CONNACK at 400 kbit/s; ` +
        `${wireBytes(next.up)} B up, ${wireBytes(next.down)} B down in the first 1.5 s\n`,
    );
    expect(subscribe.at - connack.at).toBeLessThan(200);
  });

  it('a state message waits behind at most the data window, not behind the whole backlog', async () => {
    const device = 'cam-weak-window';
    const opened = await open(device);
    const batch = Buffer.alloc(6_000, 2);
    // 32 batches (192 kB, ≈ 3.9 s at 400 kbit/s) handed over at once, as a reconnecting outbox does
    const data = Array.from({ length: 32 }, () => opened.publish(topics.predictions(device), batch, { retain: false }));
    await sleep(200);
    expect(opened.dataInFlight).toBeLessThanOrEqual(16 * 1024);
    const started = Date.now();
    await opened.publish(topics.reported(device), JSON.stringify({ state: 'active' }), { retain: true });
    const controlMs = Date.now() - started;
    await Promise.all(data);
    const drainedMs = Date.now() - started;
    process.stdout.write(`a reported state behind 32 × 6 kB of data at 400 kbit/s: acknowledged after ${controlMs} ms (the data drained after ${drainedMs} ms)\n`);
    expect(controlMs).toBeLessThan(1_000);
  });
});
