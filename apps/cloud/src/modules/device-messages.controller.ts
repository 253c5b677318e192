import { Controller, UseFilters } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { topicFilters } from '@edgeloop/contracts';
import type { DeviceMessageEvent, DeviceMessageEvents } from '../mqtt/device-channel';
import { DeviceMessageErrors } from '../mqtt/device-message-errors';
import { DeviceService } from '../services/device.service';

/** Devices' retained `reported` state and `status` (presence), from every device, on every replica. */
@Controller()
@UseFilters(DeviceMessageErrors)
export class DeviceMessagesController {
  constructor(private readonly devices: DeviceService) {}

  @EventPattern<DeviceMessageEvents>(topicFilters.reported)
  onReported(@Payload() event: DeviceMessageEvent): Promise<void> {
    return this.devices.onDeviceMessage(event.message, event.receivedAt);
  }

  @EventPattern<DeviceMessageEvents>(topicFilters.status)
  onStatus(@Payload() event: DeviceMessageEvent): Promise<void> {
    return this.devices.onDeviceMessage(event.message, event.receivedAt);
  }
}
