import { z } from 'zod';
import { describeZodError, DRIFT_METRICS, type DriftMetric } from '@edgeloop/contracts';
import type { DriftFinding } from './detector';
import { DriftError } from './errors';

/**
 * Hysteresis and cool-down over successive windows, so a drifting model version raises one event,
 * not a storm. Per model version the caller keeps a `DriftAlarmState` (plain JSON) and, each time
 * a window closes, passes that window's findings to `advanceDriftAlarm`.
 *
 * - A metric is *confirmed* after `confirmWindows` consecutive windows with `drifted`. The first
 *   confirmed metric moves the alarm from `ok` to `drifting`: an episode starts.
 * - An episode fires at most once: at its start, or — when it started inside the cool-down — at the
 *   first window after the cool-down in which a confirmed metric is still drifted.
 * - It ends (back to `ok`) when every metric confirmed during it has been under
 *   `threshold × clearRatio` (|value|) for `clearWindows` consecutive windows. A value between the
 *   clear level and the threshold neither confirms nor clears.
 * - No fire within `cooldownMs` of the previous fire, whatever the episode.
 * - A metric missing from a window's findings (too few samples) is no observation: its streaks keep
 *   their counts. A window at or before the last observed one is ignored, so a retried job that
 *   reapplies the same window to the stored state changes nothing.
 */

export interface DriftAlarmOptions {
  /** K: consecutive drifted windows before a metric is confirmed. */
  confirmWindows: number;
  /** M: consecutive windows under the clear level before an episode ends. */
  clearWindows: number;
  /** The clear level as a fraction of the threshold, in (0, 1]. */
  clearRatio: number;
  /** No new fire this long after the last one. */
  cooldownMs: number;
}

export const DEFAULT_DRIFT_ALARM_OPTIONS: Readonly<DriftAlarmOptions> = Object.freeze({
  confirmWindows: 2,
  clearWindows: 3,
  clearRatio: 0.5,
  cooldownMs: 60 * 60 * 1000,
});

export const DriftAlarmOptionsSchema = z.strictObject({
  confirmWindows: z.number().int().min(1).max(1000),
  clearWindows: z.number().int().min(1).max(1000),
  clearRatio: z.number().gt(0).max(1),
  cooldownMs: z.number().int().nonnegative(),
});

/** Per-model overrides merged over the defaults; throws `INVALID_DRIFT_SETTINGS` naming every bad field. */
export function resolveDriftAlarmOptions(overrides: unknown = {}): DriftAlarmOptions {
  const parsed = DriftAlarmOptionsSchema.partial().safeParse(overrides);
  if (!parsed.success) throw new DriftError('INVALID_DRIFT_SETTINGS', `invalid drift alarm options: ${describeZodError(parsed.error)}`);
  const defined = Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined));
  return { ...DEFAULT_DRIFT_ALARM_OPTIONS, ...defined };
}

export const DRIFT_ALARM_STATUSES = ['ok', 'drifting'] as const;
export type DriftAlarmStatus = (typeof DRIFT_ALARM_STATUSES)[number];

export interface MetricStreak {
  /** Consecutive observed windows with `drifted`. */
  over: number;
  /** Consecutive observed windows under the clear level. */
  under: number;
}

export interface DriftEpisode {
  startedAt: number;
  /** Metrics confirmed during the episode; all must clear to end it. */
  metrics: DriftMetric[];
  firedAt: number | null;
}

export interface DriftAlarmState {
  v: 1;
  status: DriftAlarmStatus;
  streaks: Partial<Record<DriftMetric, MetricStreak>>;
  episode: DriftEpisode | null;
  lastFiredAt: number | null;
  lastObservedAt: number | null;
}

const epochMs = z.number().int().nonnegative();
const streak = z.strictObject({ over: z.number().int().nonnegative(), under: z.number().int().nonnegative() });

export const DriftAlarmStateSchema = z
  .strictObject({
    v: z.literal(1),
    status: z.enum(DRIFT_ALARM_STATUSES),
    streaks: z.partialRecord(z.enum(DRIFT_METRICS), streak),
    episode: z
      .strictObject({ startedAt: epochMs, metrics: z.array(z.enum(DRIFT_METRICS)).min(1), firedAt: epochMs.nullable() })
      .nullable(),
    lastFiredAt: epochMs.nullable(),
    lastObservedAt: epochMs.nullable(),
  })
  .refine((state) => (state.status === 'drifting') === (state.episode !== null), {
    message: 'a drifting alarm has an episode and an ok alarm has none',
    path: ['episode'],
  }) satisfies z.ZodType<DriftAlarmState>;

export function initialDriftAlarmState(): DriftAlarmState {
  return { v: 1, status: 'ok', streaks: {}, episode: null, lastFiredAt: null, lastObservedAt: null };
}

/** Validates a stored state; throws `INVALID_ALARM_STATE` naming every bad field. */
export function parseDriftAlarmState(input: unknown): DriftAlarmState {
  const parsed = DriftAlarmStateSchema.safeParse(input);
  if (!parsed.success) throw new DriftError('INVALID_ALARM_STATE', `invalid drift alarm state: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

/** Raise a `drift.detected` event with these findings (the drifted, confirmed metrics of the window). */
export interface DriftAlarmFire {
  at: number;
  episodeStartedAt: number;
  findings: DriftFinding[];
}

/** An episode ended. */
export interface DriftAlarmClear {
  at: number;
  episodeStartedAt: number;
  /** Whether the episode had fired (false when the cool-down held it back throughout). */
  fired: boolean;
}

export interface DriftAlarmStep {
  state: DriftAlarmState;
  fire: DriftAlarmFire | null;
  clear: DriftAlarmClear | null;
}

/**
 * One window's findings (`evaluateDrift`) at `at` (epoch ms, e.g. the window's end) applied to
 * `state`. Pure: returns the next state and leaves `state` as it was.
 */
export function advanceDriftAlarm(
  state: DriftAlarmState,
  findings: readonly DriftFinding[],
  at: number,
  options: DriftAlarmOptions = DEFAULT_DRIFT_ALARM_OPTIONS,
): DriftAlarmStep {
  if (!Number.isFinite(at)) throw new RangeError(`at must be an epoch in ms, got ${at}`);
  if (state.lastObservedAt !== null && at <= state.lastObservedAt) return { state, fire: null, clear: null };
  const next: DriftAlarmState = structuredClone(state);
  next.lastObservedAt = at;

  for (const finding of findings) {
    const streaks = next.streaks[finding.metric] ?? { over: 0, under: 0 };
    streaks.over = finding.drifted ? streaks.over + 1 : 0;
    streaks.under = Math.abs(finding.value) < finding.threshold * options.clearRatio ? streaks.under + 1 : 0;
    next.streaks[finding.metric] = streaks;
  }
  const isConfirmed = (metric: DriftMetric) => (next.streaks[metric]?.over ?? 0) >= options.confirmWindows;
  const confirmed = DRIFT_METRICS.filter(isConfirmed);

  let episode: DriftEpisode;
  if (next.episode === null) {
    if (confirmed.length === 0) return { state: next, fire: null, clear: null };
    episode = { startedAt: at, metrics: confirmed, firedAt: null };
    next.status = 'drifting';
    next.episode = episode;
  } else {
    episode = next.episode;
    for (const metric of confirmed) if (!episode.metrics.includes(metric)) episode.metrics.push(metric);
    const cleared = episode.metrics.every((metric) => (next.streaks[metric]?.under ?? 0) >= options.clearWindows);
    if (cleared) {
      next.status = 'ok';
      next.episode = null;
      return { state: next, fire: null, clear: { at, episodeStartedAt: episode.startedAt, fired: episode.firedAt !== null } };
    }
  }

  const coolingDown = next.lastFiredAt !== null && at - next.lastFiredAt < options.cooldownMs;
  const evidence = findings.filter((finding) => finding.drifted && isConfirmed(finding.metric));
  if (episode.firedAt !== null || coolingDown || evidence.length === 0) return { state: next, fire: null, clear: null };
  episode.firedAt = at;
  next.lastFiredAt = at;
  return { state: next, fire: { at, episodeStartedAt: episode.startedAt, findings: evidence }, clear: null };
}

/** `advanceDriftAlarm` with the state held in an object, for a caller that loads, steps and saves it. */
export class DriftAlarm {
  readonly options: DriftAlarmOptions;
  private current: DriftAlarmState;

  constructor(options: Partial<DriftAlarmOptions> = {}, state: DriftAlarmState = initialDriftAlarmState()) {
    this.options = resolveDriftAlarmOptions(options);
    this.current = structuredClone(state);
  }

  /** Restores an alarm from its stored JSON (validated). */
  static fromJSON(json: unknown, options: Partial<DriftAlarmOptions> = {}): DriftAlarm {
    return new DriftAlarm(options, parseDriftAlarmState(json));
  }

  get status(): DriftAlarmStatus {
    return this.current.status;
  }

  get state(): DriftAlarmState {
    return structuredClone(this.current);
  }

  observe(findings: readonly DriftFinding[], at: number): Omit<DriftAlarmStep, 'state'> {
    const { state, fire, clear } = advanceDriftAlarm(this.current, findings, at, this.options);
    this.current = state;
    return { fire, clear };
  }

  toJSON(): DriftAlarmState {
    return this.state;
  }
}
