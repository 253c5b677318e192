import { topics } from '@edgeloop/contracts';
import mqtt from 'mqtt';
import { SqlDatabase } from '../database/sql-database';
import { DeviceChannel } from './device-channel';
import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';
import { makeBatch, STABLE } from '../testing/prediction-batches';

const json = async (res: Response | Promise<Response>): Promise<any> => (await (await res).json()) as any;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The channel holds a device's PUBACK until its handler is done, but never holds the client's reading of
 * packets: the broker's SUBACK, PINGRESP and the PUBACKs of the cloud's own publishes are read while a
 * message waits (mqtt.js reads packets in order and reads the next one only when its handler calls back).
 *
 * A cloud with a persistent session (fixed MQTT_CLIENT_ID) restarted while the broker holds QoS 1 messages
 * queued for it: Mosquitto sends them right after the CONNACK, before the SUBACK of the boot's subscribe and
 * before the app's init hooks ran. The cloud must boot (not wait behind a held message for a SUBACK or a
 * PINGRESP) and then store every queued batch.
 */
describe('device channel: a held message does not hold the connection (Mosquitto, persistent session)', () => {
  let fx: CloudFixture;

  beforeAll(async () => {
    fx = await startCloudFixture({
      broker: 'mosquitto',
      persistentSql: true,
      env: { MQTT_CLIENT_ID: 'edgeloop-cloud-queued', MQTT_SHARE_GROUP: 'edgeloop-cloud' },
    });
  }, 120_000);
  afterAll(async () => {
    await fx?.stop();
  });

  /** Provisions a device through the API and connects it with its own credentials. */
  async function provisionAndConnect(id: string): Promise<mqtt.MqttClient> {
    const body = await json(
      fx.api('/api/v1/devices', { method: 'POST', body: JSON.stringify({ id, name: id }), headers: { 'content-type': 'application/json' } }),
    );
    const device = await mqtt.connectAsync(fx.mqttUrl!, { clientId: id, username: id, password: body.credentials.mqtt.password, reconnectPeriod: 200 });
    device.on('error', () => undefined);
    return device;
  }

  it('reads the broker while a batch waits for Redis, then stores the batch', async () => {
    const device = await provisionAndConnect('cam-h');
    const channel = fx.cloud.app.get(DeviceChannel, { strict: false });
    const db = fx.cloud.app.get(SqlDatabase, { strict: false });

    await fx.redis!.halt();
    try {
      const batch = makeBatch('cam-h', 1, { name: 'face-id', version: 1 }, STABLE, { frames: 2 });
      await device.publishAsync(topics.predictions('cam-h'), JSON.stringify(batch), { qos: 1 });
      await sleep(1500);
      expect(channel.counters.received).toBeGreaterThanOrEqual(1);
      // the cloud's own publish is acknowledged by the broker while the batch is held
      const desired = await Promise.race([channel.publishDesired('cam-h', null).then(() => 'acknowledged'), sleep(10_000).then(() => 'timed out')]);
      expect(desired).toBe('acknowledged');
    } finally {
      await fx.redis!.resume();
    }
    const deadline = Date.now() + 20_000;
    let rows: unknown[] = [];
    while (Date.now() < deadline && rows.length === 0) {
      rows = await db.query("select seq from prediction_batches where device_id = 'cam-h'");
      if (rows.length === 0) await sleep(300);
    }
    expect(rows).toHaveLength(1);
    await device.endAsync();
  }, 120_000);

  it('boots and stores the batches published while it was down', async () => {
    const device = await provisionAndConnect('cam-q');
    const model = { name: 'face-id', version: 1 };
    const publish = async (from: number, to: number) => {
      for (let seq = from; seq <= to; seq++) {
        await device.publishAsync(topics.predictions('cam-q'), JSON.stringify(makeBatch('cam-q', seq, model, STABLE, { frames: 2 })), { qos: 1 });
      }
    };
    const stored = async () => {
      const db = fx.cloud.app.get(SqlDatabase, { strict: false });
      return new Set((await db.query<{ seq: string }>("select seq from prediction_batches where device_id = 'cam-q'")).map((r) => Number(r.seq)));
    };
    const missing = async (upTo: number, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const have = await stored();
        const lost = Array.from({ length: upTo }, (_, i) => i + 1).filter((seq) => !have.has(seq));
        if (lost.length === 0 || Date.now() > deadline) return lost;
        await sleep(300);
      }
    };

    await publish(1, 3);
    expect(await missing(3, 20_000)).toEqual([]);

    const startedAt = Date.now();
    await fx.restart(() => publish(4, 40));
    const bootMs = Date.now() - startedAt;
    expect(await missing(40, 30_000)).toEqual([]);
    // booted without waiting out a keep-alive timeout (1.5 × 60 s)
    expect(bootMs).toBeLessThan(60_000);
    await device.endAsync();
  }, 180_000);
});
