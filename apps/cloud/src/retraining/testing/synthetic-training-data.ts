import { createRandom, gaussianVector, normalise, randomUnitVector, splitDataset, type TrainingExample } from '@edgeloop/training';

export interface SyntheticGallery {
  examples: TrainingExample[];
  /** The true centre of each identity, by label. */
  centres: Map<string, Float32Array>;
}

/**
 * Face embeddings clustered like real ones, for retraining tests: each identity a random centre on the
 * 512-d sphere, each example `centre + noise` renormalised (cosine to its centre ≈ `sameCosine`), one visit
 * ten minutes apart per example on devices in turn (so the block split can hold whole visits out);
 * strangers are random directions. Seeded: the same options give the same examples.
 */
export function syntheticGallery(options: {
  identities: number;
  perIdentity: number;
  strangers?: number;
  seed?: number;
  sameCosine?: number;
  prefix?: string;
}): SyntheticGallery {
  const random = createRandom(options.seed ?? 7);
  const sameCosine = options.sameCosine ?? 0.55;
  const noiseScale = Math.sqrt((1 / sameCosine ** 2 - 1) / 512);
  const start = Date.UTC(2026, 10, 1);
  const examples: TrainingExample[] = [];
  const centres = new Map<string, Float32Array>();
  let visit = 0;
  for (let p = 0; p < options.identities; p++) {
    const label = `${options.prefix ?? 'person'}-${String(p + 1).padStart(3, '0')}`;
    const centre = randomUnitVector(512, random);
    centres.set(label, centre);
    for (let j = 0; j < options.perIdentity; j++) {
      const noise = gaussianVector(512, random);
      const embedding = normalise(Float32Array.from(centre, (c, i) => c + noiseScale * noise[i]));
      examples.push({ id: `${label}/${j}`, label, kind: 'identity', embedding, group: `device-${(visit % 3) + 1}`, time: start + visit++ * 600_000 });
    }
  }
  for (let s = 0; s < (options.strangers ?? 0); s++) {
    examples.push({
      id: `stranger/${s}`,
      label: null,
      kind: 'stranger',
      embedding: randomUnitVector(512, random),
      group: `device-${(visit % 3) + 1}`,
      time: start + visit++ * 600_000,
    });
  }
  return { examples, centres };
}

/**
 * A deliberately worse training set: the identity examples that the run's split (the same seed) puts in
 * train have their labels dealt out again at random — done by moving embeddings between them, since the
 * split follows labels, devices and times, not embeddings — while calibration and holdout keep the truth.
 */
export function shuffleTrainingLabels(examples: readonly TrainingExample[], splitSeed = 1, seed = 3): TrainingExample[] {
  const train = new Set(
    splitDataset(examples, { seed: splitSeed })
      .train.filter((e) => e.kind === 'identity')
      .map((e) => e.id),
  );
  const random = createRandom(seed);
  const moved = examples.filter((e) => train.has(e.id)).map((e) => e.embedding);
  for (let i = moved.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [moved[i], moved[j]] = [moved[j], moved[i]];
  }
  let k = 0;
  return examples.map((e) => (train.has(e.id) ? { ...e, embedding: moved[k++] } : e));
}

/** A head whose prototypes are the identities' centres blurred to cosine ≈ `cosine` with the truth: a weaker production. */
export function blurredHead(gallery: SyntheticGallery, labels: string[], cosine: number, seed = 5): { labels: string[]; prototypes: Float32Array[] } {
  const random = createRandom(seed);
  const scale = Math.sqrt((1 / cosine ** 2 - 1) / 512);
  return {
    labels,
    prototypes: labels.map((label) => {
      const noise = gaussianVector(512, random);
      return normalise(Float32Array.from(gallery.centres.get(label)!, (c, i) => c + scale * noise[i]));
    }),
  };
}
