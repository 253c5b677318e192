import { Injectable, Optional } from '@nestjs/common';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { DeviceChannel } from '../mqtt/device-channel';
import { PredictionsQueue } from '../queues/predictions.queue';
import { DeadLetterRepository } from '../repositories/dead-letter.repository';
import { PredictionRepository } from '../repositories/prediction.repository';
import { CloudConfig } from '../config/cloud.config';
import { QuotaBucketsRepository } from '../quotas/quota-buckets.repository';
import { QuotaService } from '../quotas/quota.service';

/** Devices with the most dropped messages exported by device (only when /metrics needs a token). */
const TOP_THROTTLED_DEVICES = 50;

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
    @Optional() quotas?: QuotaService,
    @Optional() quotaBuckets?: QuotaBucketsRepository,
    @Optional() config?: CloudConfig,
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
        this.set({ outcome: 'over_quota' }, channel.counters.overQuota);
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
      help: 'Dead letters by code, cluster-wide: received (all counted), kept (sampled into SQL), pruned (removed by retention or cap)',
      labelNames: ['code', 'outcome'],
      registers: [this.registry],
      async collect() {
        if (!deadLetters) return;
        for (const total of await deadLetters.totals()) {
          for (const outcome of ['received', 'kept', 'pruned'] as const) this.set({ code: total.code, outcome }, total[outcome]);
        }
      },
    });
    new Gauge({
      name: 'edgeloop_quota_read_holds',
      help: "Times this replica's embedded broker stopped reading a device's connection for a while (at most EDGELOOP_QUOTA_HOLD_MAX_MS) because the device was over its quota",
      registers: [this.registry],
      collect() {
        if (quotas) this.set(quotas.readHolds);
      },
    });
    new Gauge({
      name: 'edgeloop_quota_checks',
      help: 'Quota decisions of this replica: allowed, dropped (over quota), dropped_quarantined, check_error (let through)',
      labelNames: ['outcome'],
      registers: [this.registry],
      collect() {
        if (!quotas) return;
        this.set({ outcome: 'allowed' }, quotas.counters.allowed);
        this.set({ outcome: 'dropped' }, quotas.counters.dropped);
        this.set({ outcome: 'dropped_quarantined' }, quotas.counters.droppedQuarantined);
        this.set({ outcome: 'check_error' }, quotas.counters.checkErrors);
      },
    });
    new Gauge({
      name: 'edgeloop_quota_dropped',
      help: 'Messages dropped over quota by topic kind, cluster-wide (from Redis)',
      labelNames: ['kind'],
      registers: [this.registry],
      async collect() {
        if (!quotaBuckets) return;
        for (const [kind, dropped] of Object.entries(await quotaBuckets.droppedTotals())) this.set({ kind }, dropped);
      },
    });
    // device ids only where /metrics needs a token (docs/security.md: the public /metrics names no device)
    if (config && !config.publicEndpoints.metrics) {
      new Gauge({
        name: 'edgeloop_quota_dropped_by_device',
        help: `Messages dropped over quota per device and kind, cluster-wide: the ${TOP_THROTTLED_DEVICES} (device, kind) pairs with the most`,
        labelNames: ['device', 'kind'],
        registers: [this.registry],
        async collect() {
          if (!quotaBuckets) return;
          this.reset();
          for (const row of await quotaBuckets.topDropped(TOP_THROTTLED_DEVICES)) this.set({ device: row.deviceId, kind: row.kind }, row.dropped);
        },
      });
    }
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
