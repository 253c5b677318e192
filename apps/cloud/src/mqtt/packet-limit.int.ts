import { MQTT_MAX_CONNECT_BYTES, MQTT_MAX_PACKET_BYTES, topics } from '@edgeloop/contracts';
import { startMosquitto, type MosquittoServer } from '@edgeloop/harness';
import mqtt from 'mqtt';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';

const MiB = 1024 * 1024;
/** A CONNECT fixed header declaring the largest remaining length MQTT can express: 256 MiB. */
const HUGE_CONNECT_HEADER = Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]);

interface AttackResult {
  closedByServer: boolean;
  /** From the first byte to the server closing the connection. */
  closedAfterMs: number;
  sentBytes: number;
}

/**
 * Opens a raw TCP connection, sends `header`, then streams up to `bodyBytes` of filler (honouring
 * back-pressure). Resolves when the server closes the socket, or `graceMs` after everything was sent.
 */
function attack(url: string, header: Buffer, bodyBytes: number, graceMs = 1500): Promise<AttackResult> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const started = Date.now();
    let sentBytes = 0;
    let settled = false;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const socket = connect(Number(port), hostname, () => {
      socket.write(header);
      const pump = (): void => {
        while (!socket.destroyed && sentBytes < bodyBytes) {
          sentBytes += chunk.length;
          if (!socket.write(chunk)) {
            socket.once('drain', pump);
            return;
          }
        }
        if (sentBytes >= bodyBytes) setTimeout(() => finish(false), graceMs);
      };
      pump();
    });
    const finish = (closedByServer: boolean): void => {
      if (settled) return;
      settled = true;
      resolve({ closedByServer, closedAfterMs: Date.now() - started, sentBytes });
      socket.destroy();
    };
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
  });
}

/** The cloud's embedded broker (aedes, as `npm start` runs it) and Mosquitto with deploy/'s limits. */
describe('MQTT packet limits', () => {
  describe('the embedded broker in the cloud', () => {
    let fx: CloudFixture;

    beforeAll(async () => {
      fx = await startCloudFixture({ broker: 'embedded' });
    });
    afterAll(async () => {
      await fx?.stop();
    });

    it('closes a connection whose CONNECT declares 256 MiB at once, before authentication, without buffering the body', async () => {
      const before = process.memoryUsage().arrayBuffers;
      // four attackers, 16 MiB each: unguarded, aedes keeps every byte while it waits for the rest of the packet
      const results = await Promise.all([1, 2, 3, 4].map(() => attack(fx.mqttUrl!, HUGE_CONNECT_HEADER, 16 * MiB)));
      const grown = process.memoryUsage().arrayBuffers - before;
      for (const result of results) {
        expect(result).toMatchObject({ closedByServer: true });
        expect(result.closedAfterMs).toBeLessThan(1000);
      }
      expect(grown).toBeLessThan(16 * MiB);
    });

    async function provision(id: string): Promise<{ username: string; password: string; clientId: string }> {
      const res = await fx.api('/api/v1/devices', {
        method: 'POST',
        body: JSON.stringify({ id, name: id }),
        headers: { 'content-type': 'application/json' },
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { credentials: { mqtt: { username: string; password: string; clientId: string } } }).credentials.mqtt;
    }

    it('refuses a CONNECT over MQTT_MAX_CONNECT_BYTES even with valid credentials, and takes one within it', async () => {
      const credentials = await provision('cam-will');
      const will = (bytes: number) => ({ topic: topics.status('cam-will'), payload: Buffer.alloc(bytes, 0x20), qos: 1 as const, retain: true });
      const outcome = (bytes: number) =>
        new Promise<'connected' | 'closed'>((resolve) => {
          const client = mqtt.connect(fx.mqttUrl!, { ...credentials, reconnectPeriod: 0, connectTimeout: 5000, will: will(bytes) });
          client.on('error', () => undefined);
          client.once('connect', () => resolve('connected'));
          client.once('close', () => resolve('closed'));
          setTimeout(() => client.end(true), 6000).unref();
          client.once('connect', () => client.end(true));
        });
      expect(await outcome(MQTT_MAX_CONNECT_BYTES)).toBe('closed');
      expect(await outcome(1024)).toBe('connected');
    });

    it('disconnects an authenticated device that sends a packet over MQTT_MAX_PACKET_BYTES, and accepts one within it', async () => {
      const credentials = await provision('cam-big');
      const device = await mqtt.connectAsync(fx.mqttUrl!, { ...credentials, reconnectPeriod: 0 });
      try {
        const closed = new Promise<void>((resolve, reject) => {
          device.once('close', () => resolve());
          setTimeout(() => reject(new Error('the broker kept the connection open')), 5000);
        });
        // within the limit: acknowledged (the cloud dead-letters it as too large for the topic, but the broker takes it)
        await device.publishAsync(topics.predictions('cam-big'), Buffer.alloc(MQTT_MAX_PACKET_BYTES - 1024, 0x20), { qos: 1 });
        expect(device.connected).toBe(true);
        device.publish(topics.predictions('cam-big'), Buffer.alloc(MQTT_MAX_PACKET_BYTES + 1, 0x20), { qos: 1 });
        await closed;
      } finally {
        device.end(true);
      }
    });
  });

  describe('Mosquitto with deploy/mosquitto/mosquitto.conf limits', () => {
    let mosquitto: MosquittoServer;
    const conf = readFileSync(join(__dirname, '../../../../deploy/mosquitto/mosquitto.conf'), 'utf8');
    const limitLines = conf.split('\n').filter((line) => /^(max_packet_size|message_size_limit)\s/.test(line));

    beforeAll(async () => {
      mosquitto = await startMosquitto({ config: { extraLines: limitLines } });
    });
    afterAll(async () => {
      await mosquitto?.stop();
    });

    it('configures max_packet_size as MQTT_MAX_PACKET_BYTES', () => {
      expect(limitLines).toContain(`max_packet_size ${MQTT_MAX_PACKET_BYTES}`);
    });

    it('closes a connection whose CONNECT declares 256 MiB at once', async () => {
      const result = await attack(mosquitto.url, HUGE_CONNECT_HEADER, 16 * MiB);
      expect(result.closedByServer).toBe(true);
      expect(result.closedAfterMs).toBeLessThan(1000);
    });
  });
});
