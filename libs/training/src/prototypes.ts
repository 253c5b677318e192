import type { IdentityPrototypes } from '@edgeloop/vision';
import type { TrainingExample } from './dataset';
import { TrainingError } from './errors';
import { dot, normalise, normalisedMean } from './vectors';

/**
 * Trimmed-mean prototypes: per identity, the normalised mean of its embeddings, recomputed after
 * dropping the `trimFraction` of them farthest (lowest cosine) from that first mean, so a few
 * mislabelled or badly aligned faces do not drag the prototype. Identities in label order.
 */

/** Identity examples grouped by label, labels sorted (the head's column order). */
export function groupByIdentity(examples: readonly TrainingExample[]): Map<string, Float32Array[]> {
  const byLabel = new Map<string, Float32Array[]>();
  for (const e of examples) {
    if (e.kind !== 'identity' || e.label === null) continue;
    const list = byLabel.get(e.label);
    if (list) list.push(e.embedding);
    else byLabel.set(e.label, [e.embedding]);
  }
  return new Map([...byLabel.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function trimmedPrototype(embeddings: readonly Float32Array[], trimFraction: number): Float32Array {
  const mean = normalisedMean(embeddings);
  const drop = Math.floor(trimFraction * embeddings.length);
  if (drop === 0 || embeddings.length - drop < 1) return mean;
  const ranked = embeddings
    .map((embedding, index) => ({ embedding, index, cosine: dot(embedding, mean) }))
    .sort((a, b) => b.cosine - a.cosine || a.index - b.index);
  return normalise(normalisedMean(ranked.slice(0, embeddings.length - drop).map((r) => r.embedding)));
}

export function trimmedPrototypes(examples: readonly TrainingExample[], trimFraction: number): IdentityPrototypes {
  if (!(trimFraction >= 0 && trimFraction < 1)) throw new TrainingError('INVALID_OPTIONS', `trimFraction must be in [0, 1), got ${trimFraction}`);
  const byLabel = groupByIdentity(examples);
  if (byLabel.size === 0) throw new TrainingError('NO_IDENTITIES', 'no identity examples to train on');
  const labels = [...byLabel.keys()];
  return { labels, prototypes: labels.map((label) => trimmedPrototype(byLabel.get(label) as Float32Array[], trimFraction)) };
}
