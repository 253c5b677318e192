import { Injectable, Optional } from '@nestjs/common';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { DeviceChannel } from '../mqtt/device-channel';
import { PredictionsQueue } from '../queues/predictions.queue';
import { DeadLetterRepository } from '../repositories/dead-letter.repository';
import { PredictionRepository } from '../repositories/prediction.repository';

/**
 * Prometheus metrics of the cloud: process metrics, MQTT messages received and invalid in this replica,
 * cluster-wide ingest counters (from SQL) and the predictions queue depth (from Redis), read on scrape.
 */
@Injectable()
export class PrometheusService {
  readonly registry = new Registry();

  constructor(
    @Optional() channel?: DeviceChannel,
    @Optional() predictions?: PredictionRepository,
    @Optional() queue?: PredictionsQueue,
    @Optional() deadLetters?: DeadLetterRepository,
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'edgeloop_cloud_' });
    new Gauge({
      name: 'edgeloop_mqtt_messages',
      help: 'MQTT messages this replica received from devices, by outcome',
      labelNames: ['outcome'],
      registers: [this.registry],
      collect() {
        if (!channel) return;
        this.set({ outcome: 'received' }, channel.counters.received);
        this.set({ outcome: 'invalid' }, channel.counters.invalid);
        this.set({ outcome: 'handler_error' }, channel.counters.handlerErrors);
        this.set({ outcome: 'handler_retry' }, channel.counters.handlerRetries);
      },
    });
    new Gauge({
      name: 'edgeloop_ingest_total',
      help: 'Cluster-wide ingest counters: batches, frames, duplicate batches, invalid jobs, hard examples',
      labelNames: ['counter'],
      registers: [this.registry],
      async collect() {
        if (!predictions) return;
        for (const [name, value] of Object.entries(await predictions.counters())) this.set({ counter: name }, value);
      },
    });
    new Gauge({
      name: 'edgeloop_dead_letters',
      help: 'Invalid messages and jobs kept for inspection',
      registers: [this.registry],
      async collect() {
        if (deadLetters) this.set(await deadLetters.count());
      },
    });
    new Gauge({
      name: 'edgeloop_predictions_queue_jobs',
      help: 'Jobs in the predictions queue by state',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        if (!queue) return;
        for (const [state, count] of Object.entries(await queue.counts())) this.set({ state }, count);
      },
    });
  }
}
