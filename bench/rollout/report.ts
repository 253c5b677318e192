import { createHash } from 'node:crypto';
import os from 'node:os';

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across threads and with the cloud's clock. */
export const wallMs = (): number => performance.timeOrigin + performance.now();

export const TARGET_CONVERGE_1000_MS = 10_000;
export const TARGET_HEAD_ONLY_RATIO = 0.02;

export interface Percentiles {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function round(v: number, digits = 0): number {
  return Number.isFinite(v) ? Number(v.toFixed(digits)) : v;
}

/** Nearest-rank percentiles, rounded to the millisecond. */
export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => (sorted.length === 0 ? NaN : round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]));
  return { n: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
}

/**
 * A fixed piece of CPU work (sha256 of 64 MiB) timed on the bench's main thread: how much CPU the shared
 * machine had to give at that moment, to compare runs with (lower is faster).
 */
export function cpuCalibrationMs(): number {
  const data = Buffer.alloc(64 * 1024 * 1024, 7);
  const started = performance.now();
  createHash('sha256').update(data).digest();
  return round(performance.now() - started);
}

export function machine(loadBefore: number[], calibrationBeforeMs: number) {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGb: round(os.totalmem() / 1e9, 1),
    node: process.version,
    loadAverage: { before: loadBefore.map((v) => round(v, 2)), after: os.loadavg().map((v) => round(v, 2)) },
    /** `cpuCalibrationMs` before the bench and after it. */
    sha256Of64MiBMs: { before: calibrationBeforeMs, after: cpuCalibrationMs() },
    note: '2 shared cores with other work running; the cloud, the simulated fleet, s3rver and Redis share them',
  };
}

/** A markdown table: a header row, an alignment row (numbers right-aligned), then the rows. */
export function table(header: string[], rows: Array<Array<string | number>>, numeric: boolean[]): string {
  const line = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
  return [line(header), line(numeric.map((n) => (n ? '---:' : '---'))), ...rows.map(line)].join('\n');
}

export const seconds = (ms: number): string => (ms / 1000).toFixed(2);
