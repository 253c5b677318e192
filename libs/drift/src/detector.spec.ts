import { DRIFT_METRICS, DriftEvidenceSchema } from '@edgeloop/contracts';
import { evaluateDrift, toDriftEvidence, type DriftFinding } from './detector';
import { daylightScene, dimBlurredStrangersScene, simulateBatches, unitVector } from './testing/simulate';
import { DEFAULT_DRIFT_THRESHOLDS, resolveDriftThresholds } from './thresholds';
import { accumulateBatch, createWindowStats, type WindowStats } from './window-stats';
import type { Scene } from './testing/simulate';

const person = unitVector(7);
const window = (scene: Scene, seed: number, frames = 1200): WindowStats =>
  simulateBatches(scene, { seed, frames }).reduce(accumulateBatch, createWindowStats());
const byMetric = (findings: DriftFinding[]) => Object.fromEntries(findings.map((f) => [f.metric, f]));

describe('evaluateDrift', () => {
  const reference = window(daylightScene(person), 1);
  const dim = window(dimBlurredStrangersScene(), 9);

  it('finds no drift between windows of a stable scene, with every metric evaluated', () => {
    for (const seed of [2, 3, 4, 5]) {
      const findings = evaluateDrift(reference, window(daylightScene(person), seed));
      expect(findings.map((f) => f.metric)).toEqual([...DRIFT_METRICS]);
      expect(findings.filter((f) => f.drifted)).toEqual([]);
    }
  });

  it('finds the lighting change, the strangers and the scores that follow them', () => {
    const findings = byMetric(evaluateDrift(reference, dim));
    for (const metric of [
      'score_psi',
      'score_ks',
      'margin_psi',
      'margin_ks',
      'unknown_rate',
      'brightness_shift',
      'contrast_shift',
      'sharpness_shift',
      'embedding_centroid_shift',
    ]) {
      expect({ metric, drifted: findings[metric].drifted }).toEqual({ metric, drifted: true });
    }
    expect(findings.brightness_shift.value).toBeLessThan(-4); // darker: negative d
    expect(findings.sharpness_shift.value).toBeLessThan(-4);
    expect(findings.unknown_rate.value).toBeGreaterThan(0.5);
    expect(findings.unknown_rate.pValue).toBeLessThan(1e-6);
    expect(findings.score_ks.pValue).toBeLessThan(1e-6);
    expect(findings.embedding_centroid_shift.value).toBeGreaterThan(0.5);
    expect(findings.score_psi.samples.reference).toBe(reference.scoredFaces);
    // Faces per frame moved from 1.0 to 0.9: real, but small next to its spread.
    expect(findings.faces_per_frame_shift.drifted).toBe(false);
  });

  it('leaves out a metric until both windows hold its minimum sample', () => {
    expect(evaluateDrift(reference, window(dimBlurredStrangersScene(), 9, 40))).toEqual([]);
    const short = evaluateDrift(reference, window(dimBlurredStrangersScene(), 9, 100)); // ~90 faces, 100 frames
    expect(short.map((f) => f.metric)).toEqual(['faces_per_frame_shift', 'brightness_shift', 'contrast_shift', 'sharpness_shift', 'embedding_centroid_shift']);
    expect(evaluateDrift(createWindowStats(), reference)).toEqual([]);
  });

  it('takes per-model thresholds over the defaults', () => {
    const thresholds = resolveDriftThresholds({
      metrics: { brightness_shift: { threshold: 20 }, score_ks: { enabled: false }, unknown_rate: { minSamples: 100_000 } },
      psi: { bins: 5 },
    });
    expect(thresholds.metrics.brightness_shift).toEqual({ ...DEFAULT_DRIFT_THRESHOLDS.metrics.brightness_shift, threshold: 20 });
    expect(thresholds.psi).toEqual({ bins: 5, epsilon: DEFAULT_DRIFT_THRESHOLDS.psi.epsilon });
    const findings = byMetric(evaluateDrift(reference, dim, thresholds));
    expect(findings.brightness_shift).toMatchObject({ threshold: 20, drifted: false });
    expect(findings.score_ks).toBeUndefined();
    expect(findings.unknown_rate).toBeUndefined();
    expect(() => resolveDriftThresholds({ metrics: { brightness_shift: { threshold: -1 } } })).toThrow(
      expect.objectContaining({ code: 'INVALID_DRIFT_SETTINGS', message: expect.stringContaining('metrics.brightness_shift.threshold') }),
    );
    expect(() => resolveDriftThresholds({ metrics: { nonsense_metric: {} } })).toThrow(/nonsense_metric|metrics/);
  });

  it('turns the drifted findings into drift.detected evidence', () => {
    const findings = evaluateDrift(reference, dim);
    const evidence = toDriftEvidence(findings);
    expect(evidence.length).toBe(findings.filter((f) => f.drifted).length);
    for (const item of evidence) expect(DriftEvidenceSchema.parse(item)).toEqual(item);
    expect(evidence.find((e) => e.metric === 'score_ks')).toHaveProperty('pValue');
    expect(evidence.find((e) => e.metric === 'brightness_shift')).not.toHaveProperty('pValue');
  });
});
