import { DynamicModule, Logger, Module, OnApplicationBootstrap } from '@nestjs/common';
import { BullModule } from '@nestjs/bullmq';
import { QUEUES } from '@edgeloop/contracts';
import { DeploymentsController } from '../controllers/deployments.controller';
import { DevicesController } from '../controllers/devices.controller';
import { EnrolmentFeature } from '../enrolment/enrolment.module';
import { DeviceChannel } from '../mqtt/device-channel';
import { MqttEndpoint } from '../mqtt/mqtt-endpoint';
import { RolloutQueue } from '../queues/rollout.queue';
import { RolloutsProcessor } from '../queues/rollouts.processor';
import { QuotaBucketsRepository } from '../quotas/quota-buckets.repository';
import { QuotaService } from '../quotas/quota.service';
import { QuotasFeature } from '../quotas/quotas.module';
import { DeploymentRepository } from '../repositories/deployment.repository';
import { DeviceService } from '../services/device.service';
import { HealthService } from '../services/health.service';
import { RolloutService } from '../services/rollout.service';
import { DeviceMessagesController } from './device-messages.controller';
import { RegistryModule } from './registry.module';
import { runsProcessors, type CloudRole } from './roles';

/**
 * Devices and rollouts: provisioning and zero-touch enrolment, presence and reported state (MQTT handlers
 * on `reported` and `status`), per-device quotas and quarantine, deployments and their `rollouts` queue.
 * It owns the MQTT side: `MqttEndpoint` (embedded broker or the broker's ACL admin) and `DeviceChannel`,
 * the transport the app connects as its microservice. At bootstrap (the channel is connected by then) every
 * deployment in progress is rescheduled and every stored desired state republished. Needs Redis and a broker.
 */
@Module({})
export class DevicesModule implements OnApplicationBootstrap {
  private readonly logger = new Logger(DevicesModule.name);

  constructor(
    private readonly endpoint: MqttEndpoint,
    private readonly channel: DeviceChannel,
    private readonly queue: RolloutQueue,
    private readonly rollouts: RolloutService,
    private readonly health: HealthService,
  ) {}

  static register(role: CloudRole): DynamicModule {
    return {
      module: DevicesModule,
      imports: [RegistryModule, BullModule.registerQueue({ name: QUEUES.rollouts })],
      controllers: [DevicesController, DeploymentsController, DeviceMessagesController, ...EnrolmentFeature.controllers, ...QuotasFeature.controllers],
      providers: [
        MqttEndpoint,
        DeviceChannel,
        DeploymentRepository,
        RolloutQueue,
        DeviceService,
        RolloutService,
        ...EnrolmentFeature.providers,
        ...QuotasFeature.providers,
        ...(runsProcessors(role) ? [RolloutsProcessor] : []),
      ],
      exports: [MqttEndpoint, DeviceChannel, DeviceService, RolloutService, QuotaService, QuotaBucketsRepository],
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.rollouts.resume();
    this.health.register('mqtt', async () => {
      if (!this.channel.connected) throw new Error('the MQTT channel is disconnected');
    });
    this.health.register('redis', () => this.queue.ping());
    this.logger.log(`devices and rollouts ready (broker ACL: ${this.endpoint.mode})`);
  }
}
