import { ApiClient } from '@edgeloop/client';
import { apiPaths, MQTT_QOS, topics } from '@edgeloop/contracts';
import mqtt, { type MqttClient } from 'mqtt';
import { performance } from 'node:perf_hooks';

interface DeviceCreated {
  credentials: { mqtt: { password: string } };
}

/** A simulated device: registered through the API, connected to the broker with its own credentials. */
export interface BenchDevice {
  id: string;
  client: MqttClient;
}

/** Registers `ids` (group `group`) and connects each with the MQTT password the API answered. */
export async function provisionDevices(api: ApiClient, mqttUrl: string, ids: readonly string[], group: string): Promise<BenchDevice[]> {
  const devices: BenchDevice[] = [];
  try {
    for (const id of ids) {
      const created = await api.request<DeviceCreated>('POST', apiPaths.devices(), { id, name: id, group });
      const client = await mqtt.connectAsync(mqttUrl, {
        clientId: id,
        username: id,
        password: created.credentials.mqtt.password,
        clean: true,
        reconnectPeriod: 1000,
      });
      client.on('error', () => undefined);
      devices.push({ id, client });
    }
  } catch (err) {
    await disconnect(devices);
    throw err;
  }
  return devices;
}

export async function disconnect(devices: readonly BenchDevice[]): Promise<void> {
  await Promise.all(devices.map((d) => d.client.endAsync(true).catch(() => undefined)));
}

export interface PublishRun {
  /** performance.now() of the first PUBLISH handed to a client. */
  firstPublishAt: number;
  /** performance.now() of the last PUBACK. */
  lastAckAt: number;
  messages: number;
  bytes: number;
}

/**
 * Every device publishes `perDevice` messages at full speed, QoS 1, with at most `inFlight` of its own
 * unacknowledged at a time; `payload(device, i)` builds the i-th (0-based) message of a device.
 */
export async function publishAll(
  devices: readonly BenchDevice[],
  perDevice: number,
  inFlight: number,
  payload: (device: BenchDevice, index: number) => string | Uint8Array,
  onFirstPublish?: () => void,
): Promise<PublishRun> {
  let firstPublishAt = NaN;
  let messages = 0;
  let bytes = 0;
  const publishDevice = async (device: BenchDevice) => {
    const topic = topics.predictions(device.id);
    let next = 0;
    const lane = async () => {
      while (next < perDevice) {
        const index = next++;
        const body = payload(device, index);
        if (Number.isNaN(firstPublishAt)) {
          firstPublishAt = performance.now();
          onFirstPublish?.();
        }
        await device.client.publishAsync(topic, typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength), {
          qos: MQTT_QOS,
        });
        messages++;
        bytes += typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
      }
    };
    await Promise.all(Array.from({ length: Math.min(inFlight, perDevice) }, lane));
  };
  await Promise.all(devices.map(publishDevice));
  return { firstPublishAt, lastAckAt: performance.now(), messages, bytes };
}
