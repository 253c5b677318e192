import { buildIdentityHead } from '@edgeloop/vision';
import { calibrate } from './calibrate';
import { datasetDigest, splitDataset } from './dataset';
import { evaluateOpenSet } from './evaluate';
import { gate } from './gate';
import { trimmedPrototypes } from './prototypes';
import { syntheticFaces } from './testing/synthetic';
import { trainHead } from './trainer';

/**
 * The retraining flow end to end on synthetic faces: split → train → calibrate → evaluate on the
 * holdout → gate against production. Production is the head a gallery with one enrolment photo
 * per person gives; the candidate learns from every training example.
 */
describe('retraining flow', () => {
  const faces = syntheticFaces({ identities: 40, perIdentity: 16, strangers: 300, notFaces: 40, seed: 17, dimension: 128, sameCosine: 0.3, framesPerVisit: 2 });
  const split = splitDataset(faces, { seed: 17 });
  const enrolment = [...new Map(split.train.filter((e) => e.kind === 'identity').map((e) => [e.label, e] as const)).values()];
  const production = trimmedPrototypes(enrolment, 0);
  const trained = trainHead(split.train, split.validation, { seed: 17 });

  it('trains, calibrates and evaluates a candidate that beats production', () => {
    expect(split.notes).toEqual([]);
    expect(production.labels).toHaveLength(40);
    expect(trained.head.labels).toEqual(production.labels);
    const candidateCalibration = calibrate(trained.head, split.calibration, { targetFpir: 0.01 });
    const productionCalibration = calibrate(production, split.calibration, { targetFpir: 0.01 });
    expect(candidateCalibration.fpir).toBeLessThanOrEqual(0.01);
    const candidate = evaluateOpenSet(trained.head, candidateCalibration, split.holdout);
    const current = evaluateOpenSet(production, productionCalibration, split.holdout);
    expect(candidate.probes).toBe(split.holdout.length);
    expect(candidate.rank1).toBeGreaterThan(current.rank1);
    expect(candidate.dirAtFpir.dir).toBeGreaterThan(current.dirAtFpir.dir + 0.1);
    expect(candidate.dirAtFpir.fpir).toBeLessThan(0.05); // calibrated at 1% on a different split
    const verdict = gate(candidate, current);
    expect(verdict.passed).toBe(true);
    expect(verdict.mcnemar!.b).toBeGreaterThan(verdict.mcnemar!.c);
    expect(verdict.mcnemar!.pValue).toBeLessThan(0.05);
    // The other way round it must fail, on the primary metric and on McNemar.
    const backwards = gate(current, candidate);
    expect(backwards.passed).toBe(false);
    expect(backwards.reasons[0]).toMatch(/^dirAtFpir drops from/);
    expect(backwards.reasons.some((r) => r.startsWith('McNemar: the candidate gets'))).toBe(true);
  });

  it('gives a head the ONNX builder accepts, with lineage', () => {
    const bytes = buildIdentityHead(trained.head);
    expect(bytes.length).toBeGreaterThan(40 * 128 * 4);
    expect(datasetDigest(split.train)).toMatch(/^[0-9a-f]{64}$/);
    expect(datasetDigest(split.train)).not.toBe(datasetDigest(split.holdout));
  });
});
