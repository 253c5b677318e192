import { MAX_PAYLOAD_BYTES } from './device-messages';
import { DEVICES_TOPIC_ROOT, deviceTopic, InvalidDeviceIdError, parseTopic, type DeviceTopicKind } from './topics';
import { isValidDeviceId } from './identifiers';

/**
 * Broker access rules for device clients, in one place so the embedded broker's authorize hooks
 * and the generated Mosquitto ACL enforce the same thing. A device connects with
 * username = client id = its device id; it may publish only its own edge-to-cloud topics and
 * subscribe only to its own `desired` and `acks`, with no wildcard. The cloud's own client is not a device
 * and is allowed everything.
 */

/** The MQTT client id (and username) of a device: its device id, so a second session takes over the first. */
export function deviceClientId(deviceId: string): string {
  if (!isValidDeviceId(deviceId)) throw new InvalidDeviceIdError(deviceId);
  return deviceId;
}

/**
 * The four topics a device publishes and the two it subscribes to (its desired state and the cloud's acks). The embedded broker's hooks, the
 * Mosquitto dynamic-security role and the acl_file patterns are all generated from these two lists.
 */
export const DEVICE_PUBLISH_KINDS = ['reported', 'status', 'predictions', 'hard-examples'] as const satisfies readonly DeviceTopicKind[];
export const DEVICE_SUBSCRIBE_KINDS = ['desired', 'acks'] as const satisfies readonly DeviceTopicKind[];

const PUBLISH_KINDS: ReadonlySet<DeviceTopicKind> = new Set(DEVICE_PUBLISH_KINDS);

export function devicePublishTopics(deviceId: string): string[] {
  return DEVICE_PUBLISH_KINDS.map((kind) => deviceTopic(deviceId, kind));
}

export function deviceSubscribeFilters(deviceId: string): string[] {
  return DEVICE_SUBSCRIBE_KINDS.map((kind) => deviceTopic(deviceId, kind));
}

/** May this device publish to this exact topic? */
export function canDevicePublish(deviceId: string, topic: string): boolean {
  if (!isValidDeviceId(deviceId)) return false;
  const parsed = parseTopic(topic);
  return parsed !== null && parsed.deviceId === deviceId && PUBLISH_KINDS.has(parsed.kind);
}

/** May this device subscribe with this filter? Only its own `desired` and `acks`, spelled out (no wildcards, no $share). */
export function canDeviceSubscribe(deviceId: string, filter: string): boolean {
  return isValidDeviceId(deviceId) && deviceSubscribeFilters(deviceId).includes(filter);
}

/**
 * Mosquitto ACL `pattern` lines that say the same as the functions above, for an acl_file where
 * each device's username is its device id (`%u`). Append the cloud user's own `user`/`topic` lines.
 */
export function mosquittoDevicePatterns(): string[] {
  const own = `${DEVICES_TOPIC_ROOT}/%u`;
  return [
    ...DEVICE_SUBSCRIBE_KINDS.map((kind) => `pattern read ${own}/${kind}`),
    ...DEVICE_PUBLISH_KINDS.map((kind) => `pattern write ${own}/${kind}`),
  ];
}

/** One entry of a Mosquitto dynamic-security role (`createRole` → `acls`). */
export interface DynsecAcl {
  acltype: 'publishClientSend' | 'publishClientReceive' | 'subscribeLiteral' | 'subscribePattern';
  topic: string;
  priority: number;
  allow: boolean;
}

/**
 * The dynamic-security role of one device: publish exactly its four edge-to-cloud topics, subscribe to
 * and receive exactly its own desired state and acks. Literal topics, no `#`: the same rule as canDevicePublish.
 */
export function dynsecDeviceAcls(deviceId: string): DynsecAcl[] {
  return [
    ...devicePublishTopics(deviceId).map((topic): DynsecAcl => ({ acltype: 'publishClientSend', topic, priority: 0, allow: true })),
    ...deviceSubscribeFilters(deviceId).flatMap((topic): DynsecAcl[] => [
      { acltype: 'subscribeLiteral', topic, priority: 0, allow: true },
      { acltype: 'publishClientReceive', topic, priority: 0, allow: true },
    ]),
  ];
}

/**
 * Largest MQTT packet a broker accepts, counted whole (fixed header + remaining length): the largest
 * payload plus room for the topic, packet id and MQTT 5 properties. Mosquitto's `max_packet_size` in
 * deploy/mosquitto/mosquitto.conf and the embedded broker's socket guard use this number.
 */
export const MQTT_MAX_PACKET_BYTES = MAX_PAYLOAD_BYTES + 8 * 1024;

/**
 * Largest CONNECT, the one packet a client sends before it is authenticated: client id, username,
 * password and a last will (a device's is its `offline` status, ≤ 1 KiB) fit well within it.
 */
export const MQTT_MAX_CONNECT_BYTES = 16 * 1024;
