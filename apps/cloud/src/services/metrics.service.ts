import { Injectable } from '@nestjs/common';
import type { PredictionMetricsResponse, PredictionMetricsRow } from '@edgeloop/contracts';
import { mergeWindowStats, summarizeWindow, type WindowStats } from '@edgeloop/drift';
import { BadRequestError } from '../errors/domain.errors';
import { DeviceRepository } from '../repositories/device.repository';
import { PredictionRepository } from '../repositories/prediction.repository';
import { RegistryService } from './registry.service';

const BUCKET_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

export interface MetricsQuery {
  model?: { name: string; version?: number; alias?: string };
  device?: string;
  group?: string;
  from?: Date;
  to?: Date;
  bucket: keyof typeof BUCKET_MS;
}

/**
 * Reads prediction aggregates: per device when a device is named, otherwise rolled up over the devices
 * (all, or a group's), per model version and time bucket.
 */
@Injectable()
export class MetricsService {
  constructor(
    private readonly predictions: PredictionRepository,
    private readonly devices: DeviceRepository,
    private readonly registry: RegistryService,
  ) {}

  async predictionMetrics(query: MetricsQuery): Promise<PredictionMetricsResponse> {
    if (query.from && query.to && query.from >= query.to) throw new BadRequestError('invalid_query', '`from` must be before `to`');
    let version = query.model?.version;
    if (query.model?.alias) version = await this.registry.resolve(query.model.name, query.model.alias);
    let devices: string[] | undefined = query.device ? [query.device] : undefined;
    if (query.group) devices = (await this.devices.list({ group: query.group })).map((d) => d.id);
    const rows = await this.predictions.aggregates({ model: query.model?.name, version, devices, from: query.from, to: query.to });
    const size = BUCKET_MS[query.bucket];
    const groups = new Map<string, { bucketStart: number; model: { name: string; version: number }; deviceId: string | null; stats: WindowStats[] }>();
    for (const row of rows) {
      const bucketStart = Math.floor(row.bucketStart.getTime() / size) * size;
      const deviceId = query.device ? row.deviceId : null;
      const key = `${bucketStart}|${row.model.name}|${row.model.version}|${deviceId ?? ''}`;
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { bucketStart, model: row.model, deviceId, stats: [] }));
      group.stats.push(row.stats);
    }
    return {
      rows: [...groups.values()].map((g): PredictionMetricsRow => {
        const summary = summarizeWindow(mergeWindowStats(g.stats[0], ...g.stats.slice(1)));
        const zero = { p50: 0, p95: 0 };
        return {
          bucketStart: new Date(g.bucketStart).toISOString(),
          model: g.model,
          deviceId: g.deviceId,
          frames: summary.frames,
          faces: summary.faces,
          unknownRate: summary.unknownRate ?? 0,
          detectionRate: summary.detectionRate ?? 0,
          meanScore: summary.meanScore,
          meanMargin: summary.meanMargin,
          latencyMs: { detect: summary.latencyMs.detect ?? zero, embed: summary.latencyMs.embed ?? zero, total: summary.latencyMs.total ?? zero },
          stats: summary.stats,
        };
      }),
    };
  }
}
