import { Injectable, Logger } from '@nestjs/common';
import { DomainEvents } from '../events/domain-events';
import type { ModelVersionRef } from '@edgeloop/contracts';
import {
  DriftAlarm,
  driftingDevices,
  evaluateDrift,
  mergeWindowStats,
  parseWindowStats,
  resolveDriftThresholds,
  toDriftEvidence,
  type DriftAlarmOptions,
  type DriftFinding,
  type DriftThresholds,
  type WindowStats,
} from '@edgeloop/drift';
import { randomBytes } from 'node:crypto';
import { CloudConfig } from '../config/cloud.config';
import { DriftEventRecord, DriftRepository } from '../repositories/drift.repository';
import { ModelRepository } from '../repositories/model.repository';
import { PredictionRepository } from '../repositories/prediction.repository';

/** The union of one or more windows' statistics. */
function pooled(stats: readonly WindowStats[]): WindowStats {
  return mergeWindowStats(stats[0]!, ...stats.slice(1));
}

/** Frames a reference should hold: the largest minimum sample of the enabled detectors. */
function minReferenceFrames(thresholds: DriftThresholds): number {
  return Math.max(0, ...Object.values(thresholds.metrics).filter((metric) => metric.enabled).map((metric) => metric.minSamples));
}

export interface DriftCheckResult {
  model: ModelVersionRef;
  status: 'no_reference_yet' | 'reference_set' | 'window_not_ready' | 'already_checked' | 'checked';
  findings?: DriftFinding[];
  event?: DriftEventRecord;
}

/**
 * Drift per model version: the reference is the first full window of live traffic after the version
 * became active (more windows when that one holds too few frames for the detectors); every check compares the last closed window with it (PSI and KS on scores, PSI on
 * margins, a two-proportion test on the unknown rate, input-statistics shift, centroid shift) and steps a
 * hysteresis alarm with a cool-down, so a drifting model raises one event per episode, not a storm.
 */
@Injectable()
export class DriftService {
  private readonly logger = new Logger(DriftService.name);

  constructor(
    private readonly config: CloudConfig,
    private readonly drift: DriftRepository,
    private readonly predictions: PredictionRepository,
    private readonly models: ModelRepository,
    private readonly domainEvents: DomainEvents,
  ) {}

  /**
   * Per model version, the pooled statistics of each closed bucket last read (by bucket start; null for a bucket
   * without rows). A check reads the window that ends at the last closed bucket: the next one slides by a bucket,
   * so it reads that bucket alone and merges the kept ones. A closed bucket is final by definition: a batch later
   * than EDGELOOP_DRIFT_LATENESS_SECONDS counts in the aggregates, not in a window already read. Only the pooled
   * form is kept (one statistics object per bucket, not the ≈ 200 device rows of ≈ 5 kB each it merges): keeping
   * a 5-minute window's 1,000 parsed rows, and merging them device by device every check, stepped the cloud's
   * memory up by 17–26 MB at the first checks of a 200-device soak. Per-device statistics are read only for a
   * window that raises an event, to name its devices.
   */
  private readonly pooledBuckets = new Map<string, Map<number, { until: number; stats: WindowStats | null }>>();

  /** Checks every model version that received predictions within the last two windows. */
  async sweep(now = Date.now()): Promise<DriftCheckResult[]> {
    const since = new Date(now - 2 * this.windowMs);
    const results: DriftCheckResult[] = [];
    const active = await this.predictions.activeVersions(since);
    const activeKeys = new Set(active.map(({ model }) => modelKey(model)));
    for (const key of this.pooledBuckets.keys()) if (!activeKeys.has(key)) this.pooledBuckets.delete(key);
    for (const { model } of active) {
      try {
        results.push(await this.check(model, now));
      } catch (err) {
        this.logger.error(`drift check of ${model.name}@${model.version} failed: ${(err as Error).stack ?? err}`);
      }
    }
    const retention = this.config.rawRetentionHours * 3_600_000;
    await this.predictions.prune(new Date(now - retention), new Date(now - Math.max(retention, 7 * 86_400_000)));
    return results;
  }

  private get windowMs(): number {
    return this.config.driftWindowSeconds * 1000;
  }

  /** Closed windows end on a bucket boundary, once the lateness allowance for batches in flight has passed. */
  private lastClosedEnd(now: number): number {
    const bucket = this.config.aggregateBucketSeconds * 1000;
    return Math.floor((now - this.config.driftLatenessSeconds * 1000) / bucket) * bucket;
  }

  /**
   * Checks the last closed window of one model version. Safe with several replicas checking at once: the
   * reference is stored once (the first to store it wins, a later one re-reads it) and a window's result —
   * alarm state and event — is saved by compare-and-set on the last checked window, in one transaction, so
   * of two checks of the same window one raises the event and the other changes nothing.
   */
  async check(model: ModelVersionRef, now = Date.now()): Promise<DriftCheckResult> {
    let state = await this.drift.state(model);
    const end = this.lastClosedEnd(now);
    const settings = await this.settings(model);
    if (!state.reference && settings.trainingReference) {
      // statistics recorded at training time: no live reference window to wait for
      await this.drift.saveReference(model, { stats: settings.trainingReference, start: null, end: null }, null);
      state = await this.drift.state(model);
    }
    if (!state.reference) {
      const first = await this.predictions.firstBucket(model);
      if (!first || first.getTime() + this.windowMs > end) return { model, status: 'no_reference_yet' };
      const found = await this.referenceWindow(model, first, end, minReferenceFrames(settings.thresholds));
      if (!found) return { model, status: 'no_reference_yet' };
      const { reference, referenceEnd } = found;
      if (!(await this.drift.saveReference(model, { stats: reference.stats, start: first, end: referenceEnd }, referenceEnd))) {
        return { model, status: 'already_checked' };
      }
      this.logger.log(`${model.name}@${model.version}: reference window ${first.toISOString()} – ${referenceEnd.toISOString()} (${reference.stats.frames} frames)`);
      return { model, status: 'reference_set' };
    }
    const start = end - this.windowMs;
    if (state.referenceEnd && start < state.referenceEnd.getTime()) return { model, status: 'window_not_ready' };
    const first = await this.predictions.firstBucket(model);
    if (!first || first.getTime() > start) return { model, status: 'window_not_ready' };
    if (state.lastWindowEnd && state.lastWindowEnd.getTime() >= end) return { model, status: 'already_checked' };
    const current = await this.pooledWindow(model, start, end);
    if (!current) {
      const saved = await this.drift.advanceState(model, state.lastWindowEnd, { alarm: state.alarm, lastWindowEnd: new Date(end) });
      return saved ? { model, status: 'checked', findings: [] } : { model, status: 'already_checked' };
    }
    const findings = evaluateDrift(state.reference, current, settings.thresholds);
    const alarm = state.alarm ? DriftAlarm.fromJSON(state.alarm, settings.alarm) : new DriftAlarm(settings.alarm);
    const step = alarm.observe(findings, end);
    let event: DriftEventRecord | undefined;
    if (step.fire) {
      event = {
        driftEventId: `drift_${randomBytes(8).toString('hex')}`,
        model,
        detectedAt: new Date(now).toISOString(),
        window: { start: new Date(start).toISOString(), end: new Date(end).toISOString() },
        reference:
          state.referenceStart && state.referenceEnd
            ? { kind: 'window', start: state.referenceStart.toISOString(), end: state.referenceEnd.toISOString() }
            : { kind: 'training' },
        devices: driftingDevices(state.reference, await this.windowByDevice(model, start, end), settings.thresholds),
        evidence: toDriftEvidence(step.fire.findings),
      };
    }
    // compare-and-set: if another replica checked this window meanwhile, its result stands and this one is dropped
    const saved = await this.drift.advanceState(model, state.lastWindowEnd, { alarm: alarm.state, lastWindowEnd: new Date(end) }, event);
    if (!saved) return { model, status: 'already_checked' };
    if (event) {
      this.logger.warn(
        `drift detected on ${model.name}@${model.version} (${event.devices.join(', ')}): ${event.evidence.map((e) => `${e.metric} ${e.value.toFixed(3)} (threshold ${e.threshold})`).join(', ')}`,
      );
      const { detectedAt, ...data } = event;
      void detectedAt;
      await this.domainEvents.emit('drift.detected', data);
    }
    return { model, status: 'checked', findings, event };
  }

  events(filter: { model?: string; version?: number; since?: Date; limit: number }): Promise<DriftEventRecord[]> {
    return this.drift.events(filter);
  }

  /**
   * The reference: the first whole windows of live traffic from `first` that together hold `minFrames` frames
   * (one window when traffic is full; more when a version starts on a few devices, as a canary does — a
   * reference too small for any detector would leave every later window unjudged). Undefined while the
   * closed windows hold too few; after `driftReferenceMaxWindows` windows (EDGELOOP_DRIFT_REFERENCE_MAX_WINDOWS), whatever they hold.
   */
  private async referenceWindow(
    model: ModelVersionRef,
    first: Date,
    end: number,
    minFrames: number,
  ): Promise<{ reference: { stats: WindowStats }; referenceEnd: Date } | undefined> {
    const windows = Math.min(this.config.driftReferenceMaxWindows, Math.floor((end - first.getTime()) / this.windowMs));
    const buckets = await this.closedBuckets(model, first.getTime(), first.getTime() + windows * this.windowMs);
    let stats: WindowStats | undefined;
    let next = 0;
    for (let k = 1; k <= windows; k++) {
      const stop = first.getTime() + k * this.windowMs;
      const inWindow: WindowStats[] = [];
      for (; next < buckets.length && buckets[next]!.start < stop; next++) inWindow.push(buckets[next]!.stats);
      if (inWindow.length > 0) stats = pooled(stats ? [stats, ...inWindow] : inWindow);
      if (stats && (stats.frames >= minFrames || k === this.config.driftReferenceMaxWindows)) return { reference: { stats }, referenceEnd: new Date(stop) };
    }
    return undefined;
  }

  /** The pooled statistics of the window [from, to), from the kept buckets and those not read before. */
  private async pooledWindow(model: ModelVersionRef, from: number, to: number): Promise<WindowStats | undefined> {
    const buckets = await this.closedBuckets(model, from, to);
    return buckets.length > 0 ? pooled(buckets.map((bucket) => bucket.stats)) : undefined;
  }

  /**
   * The pooled statistics of each bucket of [from, to) that has rows, in order — closed buckets only. SQL is read
   * only for the buckets not kept from the last call, a bucket per statement (a first read of a whole window in
   * one statement, 1,000 rows at 200 devices, held the event loop), and each bucket's rows are merged and dropped
   * as they come.
   */
  private async closedBuckets(model: ModelVersionRef, from: number, to: number): Promise<{ start: number; stats: WindowStats }[]> {
    const key = modelKey(model);
    const kept = this.pooledBuckets.get(key);
    const read = new Map<number, { until: number; stats: WindowStats | null }>();
    for (const [at, until] of this.bucketRanges(from, to)) {
      const seen = kept?.get(at);
      if (seen && seen.until === until) {
        read.set(at, seen);
        continue;
      }
      const rows = await this.bucketRows(model, at, until);
      read.set(at, { until, stats: rows.length > 0 ? pooled(rows.map((row) => row.stats)) : null });
    }
    this.pooledBuckets.set(key, read);
    return [...read].flatMap(([start, { stats }]) => (stats ? [{ start, stats }] : []));
  }

  /** Each device's own statistics of the window [from, to), for naming the devices of a drift event (read a bucket per statement). */
  private async windowByDevice(model: ModelVersionRef, from: number, to: number): Promise<Map<string, WindowStats>> {
    const byDevice = new Map<string, WindowStats>();
    for (const [at, until] of this.bucketRanges(from, to)) {
      for (const row of await this.bucketRows(model, at, until)) {
        const seen = byDevice.get(row.deviceId);
        byDevice.set(row.deviceId, seen ? mergeWindowStats(seen, row.stats) : row.stats);
      }
    }
    return byDevice;
  }

  /** The aggregate buckets [at, until) that make up [from, to), in order. */
  private *bucketRanges(from: number, to: number): Generator<[at: number, until: number]> {
    const step = this.config.aggregateBucketSeconds * 1000;
    for (let at = from; at < to; at += step) yield [at, Math.min(to, at + step)];
  }

  /** One bucket's aggregate rows of a model version (a statement of its own). */
  private bucketRows(model: ModelVersionRef, at: number, until: number) {
    return this.predictions.aggregates({ model: model.name, version: model.version, from: new Date(at), to: new Date(until) });
  }

  /** Per-model thresholds and alarm options from the manifest's optional `drift` field, over the defaults. */
  private async settings(model: ModelVersionRef): Promise<{
    thresholds: ReturnType<typeof resolveDriftThresholds>;
    alarm: Partial<DriftAlarmOptions>;
    trainingReference?: WindowStats;
  }> {
    const version = await this.models.getVersion(model.name, model.version);
    const drift = ((version?.manifest as Record<string, unknown> | undefined)?.drift ?? {}) as {
      thresholds?: unknown;
      alarm?: Partial<DriftAlarmOptions>;
      reference?: unknown;
    };
    return {
      thresholds: resolveDriftThresholds(drift.thresholds ?? {}),
      alarm: { ...(this.config.driftAlarm ?? {}), ...(drift.alarm ?? {}) },
      ...(drift.reference !== undefined ? { trainingReference: parseWindowStats(drift.reference) } : {}),
    };
  }
}

function modelKey(model: ModelVersionRef): string {
  return `${model.name}@${model.version}`;
}
