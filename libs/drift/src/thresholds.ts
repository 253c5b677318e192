import { z } from 'zod';
import { describeZodError, DRIFT_METRICS, type DriftMetric } from '@edgeloop/contracts';
import { DriftError } from './errors';
import { DEFAULT_PSI_OPTIONS } from './psi';

/**
 * When each detector fires. A metric fires when |value| ≥ `threshold`, and, for the tests, when also
 * p < `alpha`; it is evaluated only when both windows hold at least `minSamples` of what it counts
 * (scored faces, faces with a margin, frames, or embeddings). Per-model overrides are partial and
 * merged over the defaults with `resolveDriftThresholds`.
 */
export interface MetricThreshold {
  enabled: boolean;
  threshold: number;
  minSamples: number;
  /** KS and the unknown-rate test: the significance level. */
  alpha?: number;
  /** Input shifts: floor of the pooled standard deviation, in the metric's unit. */
  minScale?: number;
}

export interface DriftThresholds {
  metrics: Record<DriftMetric, MetricThreshold>;
  /** Binning of the PSI metrics. */
  psi: { bins: number; epsilon: number };
}

const psi = (): MetricThreshold => ({ enabled: true, threshold: 0.25, minSamples: 200 });
const ks = (): MetricThreshold => ({ enabled: true, threshold: 0.15, alpha: 0.01, minSamples: 200 });
const shift = (minScale: number): MetricThreshold => ({ enabled: true, threshold: 0.8, minScale, minSamples: 60 });

/** The defaults; the README explains each. A fresh object each call, safe to mutate. */
export function defaultDriftThresholds(): DriftThresholds {
  return {
    metrics: {
      score_psi: psi(),
      margin_psi: psi(),
      score_ks: ks(),
      margin_ks: ks(),
      unknown_rate: { enabled: true, threshold: 0.1, alpha: 0.01, minSamples: 200 },
      faces_per_frame_shift: shift(0.25),
      brightness_shift: shift(5),
      contrast_shift: shift(3),
      sharpness_shift: shift(0.15),
      embedding_centroid_shift: { enabled: true, threshold: 0.15, minSamples: 50 },
    },
    psi: { ...DEFAULT_PSI_OPTIONS },
  };
}

export const DEFAULT_DRIFT_THRESHOLDS: Readonly<DriftThresholds> = deepFreeze(defaultDriftThresholds());

const MetricThresholdOverrideSchema = z.strictObject({
  enabled: z.boolean().optional(),
  threshold: z.number().nonnegative().optional(),
  minSamples: z.number().int().min(1).optional(),
  alpha: z.number().gt(0).lt(1).optional(),
  minScale: z.number().gt(0).optional(),
});

/** Per-model overrides, as stored with a model or sent over REST: every field optional. */
export const DriftThresholdOverridesSchema = z.strictObject({
  metrics: z.partialRecord(z.enum(DRIFT_METRICS), MetricThresholdOverrideSchema).optional(),
  psi: z.strictObject({ bins: z.number().int().min(2).max(100).optional(), epsilon: z.number().gt(0).lt(0.1).optional() }).optional(),
});
export type DriftThresholdOverrides = z.infer<typeof DriftThresholdOverridesSchema>;

/** Defaults with `overrides` on top; throws `INVALID_DRIFT_SETTINGS` naming every bad field. */
export function resolveDriftThresholds(overrides: unknown = {}): DriftThresholds {
  const parsed = DriftThresholdOverridesSchema.safeParse(overrides);
  if (!parsed.success) throw new DriftError('INVALID_DRIFT_SETTINGS', `invalid drift thresholds: ${describeZodError(parsed.error)}`);
  const resolved = defaultDriftThresholds();
  for (const metric of DRIFT_METRICS) {
    const override = parsed.data.metrics?.[metric];
    if (override) resolved.metrics[metric] = { ...resolved.metrics[metric], ...definedOnly(override) };
  }
  resolved.psi = { ...resolved.psi, ...definedOnly(parsed.data.psi ?? {}) };
  return resolved;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
