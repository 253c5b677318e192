import os from 'node:os';
import { median } from '../common/stats';
import type { DiskWindow, Flush } from './disk-probe';
import type { Responsiveness } from './responsiveness';
import type { UploadProbeResult } from './upload-probe';

export const TARGET_API_VS_DIRECT = 0.8;
export const TARGET_RSS_GROWTH_MB = 64;

export interface TimedRun {
  round: number;
  ms: number;
  key: string;
  /** Peak RSS growth of the process that made the put (the bench process, which also hosts s3rver). */
  putterRss?: { beforeMb: number; peakMb: number; growthMb: number } | null;
  /** CPU time of the bench process over the put (the client and s3rver), ms. */
  putterCpuMs?: { user: number; system: number };
  /** The machine's dirty page cache and writeback over the transfer. */
  disk?: DiskWindow;
  /** The `sync` run just before the transfer (not timed), when the bench flushes between transfers. */
  flush?: Flush | null;
}

export interface ApiRun extends TimedRun {
  model: string;
  clientSentMs: number | null;
  probe: UploadProbeResult;
  responsiveness: Responsiveness;
  disk: DiskWindow;
}

export interface Series {
  runsMs: number[];
  medianMs: number;
  medianMBps: number;
}

export function round(v: number, digits = 2): number {
  return Number.isFinite(v) ? Number(v.toFixed(digits)) : v;
}

export function series(runs: readonly TimedRun[], bytes: number): Series {
  const runsMs = runs.map((r) => round(r.ms, 1));
  const medianMs = median(runsMs);
  return { runsMs, medianMs: round(medianMs, 1), medianMBps: round(bytes / 1e6 / (medianMs / 1000), 1) };
}

/** Median duration of each phase of the API uploads, dated by the probe (ms; null when never seen). */
export function phaseMedians(runs: readonly ApiRun[]): Record<string, number | null> {
  const pick = (f: (r: ApiRun) => number | null): number | null => {
    const values = runs.map(f).filter((v): v is number => v !== null && Number.isFinite(v));
    return values.length === runs.length ? round(median(values), 0) : null;
  };
  const diff = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);
  return {
    clientSent: pick((r) => r.clientSentMs),
    receiveAndSpool: pick((r) => r.probe.phases.spooledMs),
    spooledToS3ObjectSeen: pick((r) => diff(r.probe.phases.s3ObjectSeenMs, r.probe.phases.spooledMs)),
    s3Transfer: pick((r) => diff(r.probe.phases.s3ObjectCompleteMs, r.probe.phases.s3ObjectSeenMs)),
    spooledToValidationStart: pick((r) => diff(r.probe.phases.validationStartMs, r.probe.phases.spooledMs)),
    validationChild: pick((r) => diff(r.probe.phases.validationEndMs, r.probe.phases.validationStartMs)),
    lastOfPutAndValidationToResponse: pick((r) => {
      const { s3ObjectCompleteMs, validationEndMs } = r.probe.phases;
      return s3ObjectCompleteMs === null || validationEndMs === null ? null : r.ms - Math.max(s3ObjectCompleteMs, validationEndMs);
    }),
    total: pick((r) => r.ms),
  };
}

/** Median CPU time (ms) of each process over the API uploads (see UploadProbeResult.cpuMs). */
export function cpuMedians(runs: readonly ApiRun[]): Record<string, number | null> {
  const keys = ['cloudUser', 'cloudSystem', 'validator', 'benchUser', 'benchSystem'] as const;
  const medians: Record<string, number | null> = {};
  for (const key of keys) {
    const values = runs.map((r) => r.probe.cpuMs[key]).filter((v): v is number => v !== null && Number.isFinite(v));
    medians[key] = values.length === runs.length && values.length > 0 ? round(median(values), 0) : null;
  }
  medians.probeInBench = runs.length > 0 ? round(median(runs.map((r) => r.probe.probeCpuMs)), 0) : null;
  return medians;
}

/** Median CPU time (ms) of the bench process over direct puts. */
export function putterCpuMedians(runs: readonly TimedRun[]): { user: number | null; system: number | null } {
  const pick = (f: (c: { user: number; system: number }) => number) => {
    const values = runs.flatMap((r) => (r.putterCpuMs ? [f(r.putterCpuMs)] : []));
    return values.length === runs.length && values.length > 0 ? round(median(values), 0) : null;
  };
  return { user: pick((c) => c.user), system: pick((c) => c.system) };
}

export function machine() {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGb: round(os.totalmem() / 1e9, 1),
    node: process.version,
    note: '2 shared cores with other work running; absolute times vary, compare the ratios',
  };
}
