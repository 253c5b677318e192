import { DEVICES_TOPIC_ROOT, InvalidDeviceIdError, parseTopic, topics } from './topics';
import { isValidDeviceId } from './identifiers';

/**
 * Broker access rules for device clients, in one place so the embedded broker's authorize hooks
 * and the generated Mosquitto ACL enforce the same thing. A device connects with
 * username = client id = its device id; it may publish only its own edge-to-cloud topics and
 * subscribe only to its own `desired`, with no wildcard. The cloud's own client is not a device
 * and is allowed everything.
 */

/** The MQTT client id (and username) of a device: its device id, so a second session takes over the first. */
export function deviceClientId(deviceId: string): string {
  if (!isValidDeviceId(deviceId)) throw new InvalidDeviceIdError(deviceId);
  return deviceId;
}

export function devicePublishTopics(deviceId: string): string[] {
  return [topics.reported(deviceId), topics.status(deviceId), topics.predictions(deviceId), topics.hardExamples(deviceId)];
}

export function deviceSubscribeFilters(deviceId: string): string[] {
  return [topics.desired(deviceId)];
}

/** May this device publish to this exact topic? */
export function canDevicePublish(deviceId: string, topic: string): boolean {
  if (!isValidDeviceId(deviceId)) return false;
  const parsed = parseTopic(topic);
  return parsed !== null && parsed.deviceId === deviceId && parsed.kind !== 'desired';
}

/** May this device subscribe with this filter? Only its own `desired`, spelled out (no wildcards, no $share). */
export function canDeviceSubscribe(deviceId: string, filter: string): boolean {
  return isValidDeviceId(deviceId) && filter === topics.desired(deviceId);
}

/**
 * Mosquitto ACL `pattern` lines that say the same as the functions above, for an acl_file where
 * each device's username is its device id (`%u`). Append the cloud user's own `user`/`topic` lines.
 */
export function mosquittoDevicePatterns(): string[] {
  const own = `${DEVICES_TOPIC_ROOT}/%u`;
  return [
    `pattern read ${own}/desired`,
    `pattern write ${own}/reported`,
    `pattern write ${own}/status`,
    `pattern write ${own}/predictions`,
    `pattern write ${own}/hard-examples`,
  ];
}
