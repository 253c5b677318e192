import { Controller, UseFilters } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { topicFilters } from '@edgeloop/contracts';
import type { DeviceMessageEvent, DeviceMessageEvents } from '../mqtt/device-channel';
import { DeviceMessageErrors } from '../mqtt/device-message-errors';
import { IngestService } from '../services/ingest.service';

/**
 * Prediction batches and hard examples (shared subscriptions when MQTT_SHARE_GROUP is set): each becomes a
 * `predictions` job, and the device's PUBACK and its application ack (the `acks` topic, published by the
 * DeviceChannel once this handler resolved — a duplicate too) wait until the job is in Redis.
 */
@Controller()
@UseFilters(DeviceMessageErrors)
export class IngestMessagesController {
  constructor(private readonly ingest: IngestService) {}

  @EventPattern<DeviceMessageEvents>(topicFilters.predictions)
  onPredictions(@Payload() event: DeviceMessageEvent): Promise<void> {
    return this.ingest.onDeviceMessage(event.message, event.receivedAt);
  }

  @EventPattern<DeviceMessageEvents>(topicFilters.hardExamples)
  onHardExample(@Payload() event: DeviceMessageEvent): Promise<void> {
    return this.ingest.onDeviceMessage(event.message, event.receivedAt);
  }
}
