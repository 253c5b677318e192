import { QUEUE_NAMES } from '@edgeloop/contracts';
import type { SoakSample } from './sampler';

/** Least-squares slope of `y` over `x` (per unit of x); NaN with fewer than two points. */
export function slope(points: ReadonlyArray<readonly [x: number, y: number]>): number {
  if (points.length < 2) return NaN;
  const mx = points.reduce((a, [x]) => a + x, 0) / points.length;
  const my = points.reduce((a, [, y]) => a + y, 0) / points.length;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

/** One series' slope after its warm-up, against its bound of "flat" (null: reported, not judged). */
export interface SeriesVerdict {
  series: string;
  unit: string;
  /** Minutes from the fleet's start after which the series is fitted. */
  fromMinute: number;
  points: number;
  first: number;
  last: number;
  slopePerMinute: number;
  bound: number | null;
  why: string;
  flat: boolean | null;
}

export interface VerdictOptions {
  warmUpMinutes: number;
  redisFillMinutes: number;
  minutes: number;
  /** Frames the fleet sends per minute, for the backlog bound. */
  framesPerMinute: number;
}

/**
 * The bounds of "flat", and why:
 * - cloud RSS ≤ 1 MB/min: a leak of 400 B per batch at 200 devices (40 batches/s) is 1 MB/min, so this
 *   catches anything kept per message; over a day it would be ≤ 1.4 GB, so a real leak under the bound
 *   still shows in a longer run;
 * - V8 heap ≤ 0.5 MB/min: the same, for JavaScript objects alone (the garbage collector's saw-tooth is
 *   averaged out by the fit);
 * - event-loop p99 ≤ 0.5 ms/min: a growing backlog or a growing scan shows as a growing delay;
 * - Redis used_memory ≤ 0.5 MB/min, fitted only after the predictions queue's completed-job retention
 *   (600 s, at most 20,000 jobs) has filled, and judged only when the run goes ≥ 5 min past it: before
 *   that, Redis grows by design;
 * - each queue's waiting + delayed + active ≤ 1 job/min, and failed jobs: no new one;
 * - frames sent but not yet in the aggregates (the ingest backlog) ≤ 1 % of a minute's frames per minute;
 * - SQL and S3 folders: reported, not judged — aggregates and raw payloads are kept by design
 *   (EDGELOOP_RAW_RETENTION_HOURS), so they grow with the data.
 */
export function verdicts(samples: readonly SoakSample[], options: VerdictOptions): SeriesVerdict[] {
  const warm = options.warmUpMinutes;
  const fit = (
    series: string,
    unit: string,
    value: (s: SoakSample) => number,
    bound: number | null,
    why: string,
    fromMinute = warm,
    judged = true,
  ): SeriesVerdict => {
    const points = samples.filter((s) => s.atS / 60 >= fromMinute && Number.isFinite(value(s))).map((s) => [s.atS / 60, value(s)] as const);
    const perMinute = slope(points);
    const rounded = Math.round(perMinute * 1000) / 1000;
    return {
      series,
      unit,
      fromMinute: Math.round(fromMinute * 10) / 10,
      points: points.length,
      first: points[0]?.[1] ?? NaN,
      last: points.at(-1)?.[1] ?? NaN,
      slopePerMinute: rounded,
      bound: judged ? bound : null,
      why,
      flat: bound === null || !judged || !Number.isFinite(perMinute) ? null : perMinute <= bound,
    };
  };
  const redisJudged = options.minutes >= options.redisFillMinutes + 5;
  const out: SeriesVerdict[] = [
    fit('cloud RSS', 'MB', (s) => s.cloudRssMb, 1, '400 B kept per batch at 40 batches/s'),
    fit('cloud V8 heap used', 'MB', (s) => s.cloudHeapMb, 0.5, 'JavaScript objects alone'),
    fit('event-loop delay p50', 'ms', (s) => s.loopP50Ms, 0.5, 'a growing backlog or scan'),
    fit('event-loop delay p99', 'ms', (s) => s.loopP99Ms, 0.5, 'a growing backlog or scan'),
    fit('event-loop delay max', 'ms', (s) => s.loopMaxMs, null, 'single stalls (GC, a scrape): reported'),
    fit(
      'Redis used_memory',
      'MB',
      (s) => s.redisUsedMb,
      0.5,
      redisJudged
        ? 'after the completed-job retention filled'
        : `not judged: the run is shorter than the ${options.redisFillMinutes}-minute retention fill + 5 min`,
      Math.max(warm, redisJudged ? options.redisFillMinutes : warm),
      redisJudged,
    ),
  ];
  for (const queue of QUEUE_NAMES) {
    out.push(
      fit(
        `${queue} queue waiting+delayed+active`,
        'jobs',
        (s) => s.queues[queue].waiting + s.queues[queue].delayed + s.queues[queue].active,
        1,
        'a queue that keeps up does not grow',
      ),
    );
    out.push(fit(`${queue} queue failed`, 'jobs', (s) => s.queues[queue].failed, 0, 'no job fails on a healthy stack'));
  }
  out.push(
    fit(
      'ingest backlog (sent − aggregated)',
      'frames',
      (s) => s.framesSent - s.framesIngested,
      options.framesPerMinute / 100,
      'the cloud keeps up with the fleet',
    ),
  );
  out.push(fit('SQL folder (PGlite)', 'MB', (s) => s.sqlMb, null, 'grows with aggregates and batch keys by design: reported'));
  out.push(fit('… of which pg_wal', 'MB', (s) => s.sqlWalMb, null, 'the write-ahead log: recycled at checkpoints'));
  out.push(fit('S3 folder', 'MB', (s) => s.s3Mb, null, 'raw payloads kept for the retention: reported'));
  return out;
}
