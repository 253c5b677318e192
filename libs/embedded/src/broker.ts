/** The embedded MQTT broker alone (`@edgeloop/embedded/broker`): what the cloud loads in embedded mode, without the spawners or s3rver. */
export { DEFAULT_MQTT_PACKET_LIMITS, startEmbeddedBroker, type EmbeddedBroker, type EmbeddedBrokerOptions } from './embedded-broker';
export { holdReading, limitMqttPackets, MqttFrameMeter, type MqttPacketLimits } from './mqtt-packet-limit';
export type { EmbeddedLogger } from './logger';
