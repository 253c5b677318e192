import { PROTOCOL_VERSION } from './protocol';
import { DEVICE_ID_PATTERN } from './identifiers';

/** Topic root: `edgeloop/v1/devices`. */
export const DEVICES_TOPIC_ROOT = `${PROTOCOL_VERSION}/devices`;

/** The last topic level of each per-device topic. */
export const DEVICE_TOPIC_KINDS = ['desired', 'reported', 'status', 'predictions', 'hard-examples', 'acks'] as const;
export type DeviceTopicKind = (typeof DEVICE_TOPIC_KINDS)[number];

/** Every edgeloop message is published and subscribed with QoS 1. */
export const MQTT_QOS = 1 as const;

export interface TopicRule {
  direction: 'cloud-to-edge' | 'edge-to-cloud';
  /** Published with the retain flag; an empty retained payload clears the topic. */
  retained: boolean;
  qos: typeof MQTT_QOS;
}

export const TOPIC_RULES: Readonly<Record<DeviceTopicKind, TopicRule>> = {
  desired: { direction: 'cloud-to-edge', retained: true, qos: MQTT_QOS },
  reported: { direction: 'edge-to-cloud', retained: true, qos: MQTT_QOS },
  status: { direction: 'edge-to-cloud', retained: true, qos: MQTT_QOS },
  predictions: { direction: 'edge-to-cloud', retained: false, qos: MQTT_QOS },
  'hard-examples': { direction: 'edge-to-cloud', retained: false, qos: MQTT_QOS },
  /** The cloud's application acknowledgements of the batches and hard examples it stored (device-messages.ts). */
  acks: { direction: 'cloud-to-edge', retained: false, qos: MQTT_QOS },
};

export class InvalidDeviceIdError extends RangeError {
  constructor(readonly deviceId: string) {
    super(`"${deviceId.slice(0, 80)}" is not a valid device id (1-64 of A-Z a-z 0-9 _ -, starting with a letter or digit)`);
    this.name = 'InvalidDeviceIdError';
  }
}

/** The topic of one kind for one device; throws InvalidDeviceIdError on an id that could break out of its level. */
export function deviceTopic(deviceId: string, kind: DeviceTopicKind): string {
  if (!DEVICE_ID_PATTERN.test(deviceId)) throw new InvalidDeviceIdError(deviceId);
  return `${DEVICES_TOPIC_ROOT}/${deviceId}/${kind}`;
}

/** Topic builders: `topics.predictions('cam-01')` → `edgeloop/v1/devices/cam-01/predictions`. */
export const topics = {
  desired: (deviceId: string): string => deviceTopic(deviceId, 'desired'),
  reported: (deviceId: string): string => deviceTopic(deviceId, 'reported'),
  status: (deviceId: string): string => deviceTopic(deviceId, 'status'),
  predictions: (deviceId: string): string => deviceTopic(deviceId, 'predictions'),
  hardExamples: (deviceId: string): string => deviceTopic(deviceId, 'hard-examples'),
  acks: (deviceId: string): string => deviceTopic(deviceId, 'acks'),
} as const;

/** The filter matching one kind for every device: `edgeloop/v1/devices/+/predictions`. */
export function allDevicesFilter(kind: DeviceTopicKind): string {
  return `${DEVICES_TOPIC_ROOT}/+/${kind}`;
}

/** Wildcard filters the cloud subscribes to. */
export const topicFilters = {
  reported: allDevicesFilter('reported'),
  status: allDevicesFilter('status'),
  predictions: allDevicesFilter('predictions'),
  hardExamples: allDevicesFilter('hard-examples'),
  /** Every per-device topic (monitoring, tests). */
  everything: `${DEVICES_TOPIC_ROOT}/+/+`,
} as const;

/** The share group cloud replicas use by default. */
export const CLOUD_SHARE_GROUP = 'edgeloop-cloud';
const SHARE_GROUP_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * MQTT 5 shared subscription: `$share/<group>/<filter>`. The broker hands each message to one
 * subscriber of the group, so several cloud replicas split the stream instead of each taking it all.
 */
export function sharedSubscription(group: string, filter: string): string {
  if (!SHARE_GROUP_PATTERN.test(group)) {
    throw new RangeError(`"${group.slice(0, 80)}" is not a valid share group (1-64 of A-Z a-z 0-9 _ -)`);
  }
  return `$share/${group}/${filter}`;
}

export interface CloudSubscription {
  filter: string;
  qos: typeof MQTT_QOS;
}

/**
 * What a cloud replica subscribes to. Work topics (predictions, hard examples) go through the
 * share group when one is given (Mosquitto ≥ 1.6, EMQX; not the embedded aedes broker, which has no
 * shared subscriptions). State topics (reported, status) are never shared: brokers do not send
 * retained messages to shared subscriptions, and each replica needs the retained state at start.
 */
export function cloudSubscriptions(options: { shareGroup?: string } = {}): CloudSubscription[] {
  const work = (filter: string): string =>
    options.shareGroup === undefined ? filter : sharedSubscription(options.shareGroup, filter);
  return [
    { filter: topicFilters.reported, qos: MQTT_QOS },
    { filter: topicFilters.status, qos: MQTT_QOS },
    { filter: work(topicFilters.predictions), qos: MQTT_QOS },
    { filter: work(topicFilters.hardExamples), qos: MQTT_QOS },
  ];
}

export interface ParsedTopic {
  deviceId: string;
  kind: DeviceTopicKind;
}

const KINDS: ReadonlySet<string> = new Set(DEVICE_TOPIC_KINDS);

/** `edgeloop/v1/devices/cam-01/predictions` → `{ deviceId: 'cam-01', kind: 'predictions' }`; null for anything else. */
export function parseTopic(topic: string): ParsedTopic | null {
  const prefix = `${DEVICES_TOPIC_ROOT}/`;
  if (!topic.startsWith(prefix)) return null;
  const rest = topic.slice(prefix.length).split('/');
  if (rest.length !== 2) return null;
  const [deviceId, kind] = rest as [string, string];
  if (!DEVICE_ID_PATTERN.test(deviceId) || !KINDS.has(kind)) return null;
  return { deviceId, kind: kind as DeviceTopicKind };
}
