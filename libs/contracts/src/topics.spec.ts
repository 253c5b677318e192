import {
  allDevicesFilter,
  cloudSubscriptions,
  DEVICE_TOPIC_KINDS,
  deviceTopic,
  InvalidDeviceIdError,
  parseTopic,
  sharedSubscription,
  topicFilters,
  topics,
  TOPIC_RULES,
} from './topics';
import {
  canDevicePublish,
  canDeviceSubscribe,
  deviceClientId,
  devicePublishTopics,
  mosquittoDevicePatterns,
} from './acl';

describe('topics', () => {
  it('builds the per-device topics of the design', () => {
    expect(topics.desired('cam-01')).toBe('edgeloop/v1/devices/cam-01/desired');
    expect(topics.reported('cam-01')).toBe('edgeloop/v1/devices/cam-01/reported');
    expect(topics.status('cam-01')).toBe('edgeloop/v1/devices/cam-01/status');
    expect(topics.predictions('cam-01')).toBe('edgeloop/v1/devices/cam-01/predictions');
    expect(topics.hardExamples('cam-01')).toBe('edgeloop/v1/devices/cam-01/hard-examples');
    expect(topics.acks('cam-01')).toBe('edgeloop/v1/devices/cam-01/acks');
    expect(TOPIC_RULES.acks).toEqual({ direction: 'cloud-to-edge', retained: false, qos: 1 });
  });

  it('round-trips every kind through parseTopic', () => {
    for (const kind of DEVICE_TOPIC_KINDS) {
      expect(parseTopic(deviceTopic('edge_7', kind))).toEqual({ deviceId: 'edge_7', kind });
    }
  });

  it.each(['cam/01', 'cam+', '#', '', 'a'.repeat(65)])('refuses to build a topic for device id %j', (id) => {
    expect(() => topics.predictions(id)).toThrow(InvalidDeviceIdError);
  });

  it.each([
    'edgeloop/v1/devices/cam-01',
    'edgeloop/v1/devices/cam-01/predictions/extra',
    'edgeloop/v1/devices/+/predictions',
    'edgeloop/v1/devices/cam-01/unknown',
    'edgeloop/v2/devices/cam-01/predictions',
    '$share/g/edgeloop/v1/devices/cam-01/predictions',
    'edgeloop/v1/devices//predictions',
  ])('parses %j as not a device topic', (topic) => {
    expect(parseTopic(topic)).toBeNull();
  });

  it('gives wildcard filters and MQTT 5 shared subscriptions', () => {
    expect(topicFilters.predictions).toBe('edgeloop/v1/devices/+/predictions');
    expect(allDevicesFilter('hard-examples')).toBe('edgeloop/v1/devices/+/hard-examples');
    expect(sharedSubscription('edgeloop-cloud', topicFilters.predictions)).toBe('$share/edgeloop-cloud/edgeloop/v1/devices/+/predictions');
    expect(() => sharedSubscription('a/b', topicFilters.predictions)).toThrow('share group');
    expect(() => sharedSubscription('', topicFilters.predictions)).toThrow('share group');
  });

  it('shares only the work topics, never the retained state topics', () => {
    const shared = cloudSubscriptions({ shareGroup: 'cloud' }).map((s) => s.filter);
    expect(shared).toEqual([
      'edgeloop/v1/devices/+/reported',
      'edgeloop/v1/devices/+/status',
      '$share/cloud/edgeloop/v1/devices/+/predictions',
      '$share/cloud/edgeloop/v1/devices/+/hard-examples',
    ]);
    expect(cloudSubscriptions().every((s) => !s.filter.startsWith('$share') && s.qos === 1)).toBe(true);
  });

  it('retains desired, reported and status only', () => {
    expect(DEVICE_TOPIC_KINDS.filter((kind) => TOPIC_RULES[kind].retained)).toEqual(['desired', 'reported', 'status']);
  });
});

describe('device ACL', () => {
  it('lets a device publish its own edge-to-cloud topics only', () => {
    for (const topic of devicePublishTopics('cam-01')) expect(canDevicePublish('cam-01', topic)).toBe(true);
    expect(canDevicePublish('cam-01', topics.desired('cam-01'))).toBe(false);
    expect(canDevicePublish('cam-01', topics.predictions('cam-02'))).toBe(false);
    expect(canDevicePublish('cam-01', 'edgeloop/v1/devices/+/predictions')).toBe(false);
    expect(canDevicePublish('cam-01', 'other/topic')).toBe(false);
  });

  it('lets a device subscribe to its own desired state only, without wildcards', () => {
    expect(canDeviceSubscribe('cam-01', 'edgeloop/v1/devices/cam-01/desired')).toBe(true);
    expect(canDeviceSubscribe('cam-01', 'edgeloop/v1/devices/cam-02/desired')).toBe(false);
    expect(canDeviceSubscribe('cam-01', 'edgeloop/v1/devices/+/desired')).toBe(false);
    expect(canDeviceSubscribe('cam-01', 'edgeloop/v1/devices/cam-01/#')).toBe(false);
    expect(canDeviceSubscribe('cam-01', '#')).toBe(false);
  });

  it('uses the device id as MQTT client id and in the Mosquitto patterns', () => {
    expect(deviceClientId('cam-01')).toBe('cam-01');
    expect(() => deviceClientId('cam/01')).toThrow(InvalidDeviceIdError);
    expect(mosquittoDevicePatterns()).toContain('pattern read edgeloop/v1/devices/%u/desired');
    expect(mosquittoDevicePatterns().filter((line) => line.startsWith('pattern write'))).toHaveLength(4);
  });
});
