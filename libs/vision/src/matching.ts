/** How an identity decision is made from a face's scores against the enrolled identities. */
export interface MatchPolicy {
  /** Top-1 score below this → unknown. */
  matchThreshold: number;
  /** Top-1 minus top-2 below this → unknown (ambiguous between two identities). */
  minMargin: number;
}

export interface IdentityMatch {
  /** The matched identity, or null for unknown. */
  identity: string | null;
  /** Best-scoring identity even when it is not accepted (for hard examples). */
  candidate: string | null;
  /** Top-1 cosine score; null when there is no head. */
  score: number | null;
  /**
   * Top-1 minus top-2 score, never negative (with a one-identity head top-2 counts as 0, so a
   * negative top-1 gives 0); null without a head.
   */
  margin: number | null;
}

export const NO_MATCH: IdentityMatch = { identity: null, candidate: null, score: null, margin: null };

export function matchIdentity(scores: ArrayLike<number>, labels: readonly string[], policy: MatchPolicy): IdentityMatch {
  if (labels.length === 0 || scores.length === 0) return NO_MATCH;
  let best = 0;
  let second = -1;
  for (let i = 1; i < scores.length; i++) {
    if (scores[i] > scores[best]) {
      second = best;
      best = i;
    } else if (second < 0 || scores[i] > scores[second]) {
      second = i;
    }
  }
  const score = scores[best];
  const margin = Math.max(0, score - (second >= 0 ? scores[second] : 0));
  const accepted = score >= policy.matchThreshold && margin >= policy.minMargin;
  return { identity: accepted ? labels[best] : null, candidate: labels[best], score, margin };
}

/** Cosine scores of one L2-normalised embedding against L2-normalised prototypes, in plain JS. */
export function cosineScores(embedding: Float32Array, prototypes: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(prototypes.length);
  for (let j = 0; j < prototypes.length; j++) {
    const p = prototypes[j];
    let dot = 0;
    for (let i = 0; i < p.length; i++) dot += embedding[i] * p[i];
    out[j] = dot;
  }
  return out;
}
