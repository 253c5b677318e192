import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { DeviceChannel } from '../mqtt/device-channel';
import { MqttEndpoint } from '../mqtt/mqtt-endpoint';
import { RolloutQueue } from '../queues/rollout.queue';
import { DeviceService } from '../services/device.service';
import { CloudConfig } from '../config/cloud.config';
import { DriftQueue } from '../queues/drift.queue';
import { PredictionsQueue } from '../queues/predictions.queue';
import { DriftService } from '../services/drift.service';
import { HealthService } from '../services/health.service';
import { IngestService } from '../services/ingest.service';
import { RolloutService } from '../services/rollout.service';

/**
 * Starts the device side in order: broker (or its ACL admin), the queues and their workers, the MQTT channel
 * (reported state, presence, prediction batches, hard examples), then resumes rollouts.
 */
@Injectable()
export class RolloutsBoot implements OnApplicationBootstrap {
  private readonly logger = new Logger(RolloutsBoot.name);

  constructor(
    private readonly config: CloudConfig,
    private readonly endpoint: MqttEndpoint,
    private readonly channel: DeviceChannel,
    private readonly queue: RolloutQueue,
    private readonly devices: DeviceService,
    private readonly rollouts: RolloutService,
    private readonly health: HealthService,
    private readonly ingest: IngestService,
    private readonly predictionsQueue: PredictionsQueue,
    private readonly drift: DriftService,
    private readonly driftQueue: DriftQueue,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.endpoint.start();
    const handler = (message: Parameters<DeviceService['onDeviceMessage']>[0], at: Date) => this.devices.onDeviceMessage(message, at);
    this.channel.on('reported', handler);
    this.channel.on('status', handler);
    await this.predictionsQueue.open();
    if (this.config.workers) {
      await this.predictionsQueue.startWorker(
        {
          batch: (job) => this.ingest.ingestBatch(job),
          hardExample: (job) => this.ingest.ingestHardExample(job),
          invalid: (name, data, message) => this.ingest.invalidJob(name, data, message),
        },
        this.config.ingestConcurrency,
      );
    }
    const ingest = (message: Parameters<IngestService['onDeviceMessage']>[0], at: Date) => this.ingest.onDeviceMessage(message, at);
    this.channel.on('predictions', ingest);
    this.channel.on('hard-examples', ingest);
    await this.driftQueue.start({
      sweep: async () => void (await this.drift.sweep()),
      check: async (model) => void (await this.drift.check(model)),
    });
    await this.channel.connect();
    await this.queue.start((id) => this.rollouts.advance(id));
    await this.rollouts.resume();
    this.health.register('mqtt', async () => {
      if (!this.channel.connected) throw new Error('the MQTT channel is disconnected');
    });
    this.health.register('redis', () => this.queue.ping());
    this.logger.log(`devices and rollouts ready (broker ACL: ${this.endpoint.mode})`);
  }
}
