import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { DeviceChannel } from '../mqtt/device-channel';
import { MqttEndpoint } from '../mqtt/mqtt-endpoint';
import { RolloutQueue } from '../queues/rollout.queue';
import { HealthService } from '../services/health.service';
import { RolloutService } from '../services/rollout.service';

/**
 * Starts the device side in order: broker (or its ACL admin), the queues and their workers, the MQTT channel
 * (reported state, presence, prediction batches, hard examples), then resumes rollouts.
 */
@Injectable()
export class RolloutsBoot implements OnApplicationBootstrap {
  private readonly logger = new Logger(RolloutsBoot.name);

  constructor(
    private readonly endpoint: MqttEndpoint,
    private readonly channel: DeviceChannel,
    private readonly queue: RolloutQueue,
    private readonly rollouts: RolloutService,
    private readonly health: HealthService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.rollouts.resume();
    this.health.register('mqtt', async () => {
      if (!this.channel.connected) throw new Error('the MQTT channel is disconnected');
    });
    this.health.register('redis', () => this.queue.ping());
    this.logger.log(`devices and rollouts ready (broker ACL: ${this.endpoint.mode})`);
  }
}
