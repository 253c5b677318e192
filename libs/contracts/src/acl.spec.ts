import {
  canDevicePublish,
  canDeviceSubscribe,
  DEVICE_PUBLISH_KINDS,
  devicePublishTopics,
  deviceSubscribeFilters,
  dynsecDeviceAcls,
  mosquittoDevicePatterns,
  MQTT_MAX_CONNECT_BYTES,
  MQTT_MAX_PACKET_BYTES,
} from './acl';
import { MAX_PAYLOAD_BYTES } from './device-messages';
import { isReservedDeviceId } from './identifiers';
import { topics } from './topics';

describe('broker rules from one list of topics', () => {
  it('gives the Mosquitto role exactly the topics the embedded broker allows, as literals', () => {
    const acls = dynsecDeviceAcls('cam-01');
    const send = acls.filter((a) => a.acltype === 'publishClientSend').map((a) => a.topic);
    expect(send.sort()).toEqual(devicePublishTopics('cam-01').sort());
    expect(send.every((topic) => canDevicePublish('cam-01', topic))).toBe(true);
    expect(send).not.toContain(topics.desired('cam-01'));
    for (const acl of acls) expect(acl.topic).not.toMatch(/[#+]/);
    expect(acls.filter((a) => a.acltype === 'subscribeLiteral').map((a) => a.topic)).toEqual(deviceSubscribeFilters('cam-01'));
    expect(acls.filter((a) => a.acltype === 'publishClientReceive').map((a) => a.topic)).toEqual([topics.desired('cam-01'), topics.acks('cam-01')]);
    expect(canDeviceSubscribe('cam-01', topics.desired('cam-01'))).toBe(true);
    expect(canDeviceSubscribe('cam-01', topics.acks('cam-01'))).toBe(true);
    expect(canDeviceSubscribe('cam-01', topics.acks('cam-02'))).toBe(false);
    expect(canDeviceSubscribe('cam-01', 'edgeloop/v1/devices/+/acks')).toBe(false);
    expect(canDevicePublish('cam-01', topics.acks('cam-01'))).toBe(false);
    expect(acls.every((a) => a.allow)).toBe(true);
  });

  it('refuses a device any level under its id other than the four', () => {
    for (const topic of ['edgeloop/v1/devices/cam-01/extra', 'edgeloop/v1/devices/cam-01/reported/x', topics.desired('cam-01')]) {
      expect(canDevicePublish('cam-01', topic)).toBe(false);
    }
  });

  it('writes the acl_file patterns from the same lists', () => {
    expect(mosquittoDevicePatterns()).toEqual([
      'pattern read edgeloop/v1/devices/%u/desired',
      'pattern read edgeloop/v1/devices/%u/acks',
      ...DEVICE_PUBLISH_KINDS.map((kind) => `pattern write edgeloop/v1/devices/%u/${kind}`),
    ]);
  });

  it('sizes packets from the largest payload', () => {
    expect(MQTT_MAX_PACKET_BYTES).toBeGreaterThan(MAX_PAYLOAD_BYTES);
    expect(MQTT_MAX_PACKET_BYTES - MAX_PAYLOAD_BYTES).toBeLessThanOrEqual(16 * 1024);
    expect(MQTT_MAX_CONNECT_BYTES).toBeLessThan(MQTT_MAX_PACKET_BYTES);
  });
});

describe('reserved device ids', () => {
  it.each(['edgeloop', 'edgeloop-cloud', 'edgeloop-cloud-1', 'EDGELOOP-admin', 'edgeloop_x', 'EdgeLoopX'])('reserves %s', (id) => {
    expect(isReservedDeviceId(id)).toBe(true);
  });

  it.each(['cam-01', 'my-edgeloop', 'edge-1', 'edgeloo'])('leaves %s to devices', (id) => {
    expect(isReservedDeviceId(id)).toBe(false);
  });

  it('reserves the extra ids it is given, exactly', () => {
    expect(isReservedDeviceId('cloud-main', ['cloud-main'])).toBe(true);
    expect(isReservedDeviceId('cloud-main-2', ['cloud-main'])).toBe(false);
  });
});
