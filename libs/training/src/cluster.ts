import { TrainingError } from './errors';
import { dot, normalise } from './vectors';

/**
 * Clusters of unknown faces, suggested to the labeller as "new person" candidates: agglomerative
 * clustering on cosine similarity with average (default) or complete linkage, cut where the
 * linkage similarity falls below `threshold`; clusters under `minSize` are dropped.
 *
 * Nearest-neighbour-chain algorithm (both linkages are reducible), O(n²) time and a condensed
 * n(n−1)/2 float32 similarity matrix (≈ 50 MB at 5,000 items). Reducibility also lets it stop
 * early: once a cluster's best similarity to any other is under the threshold, no later merge can
 * raise it, so that cluster is final. Only the first `maxItems` items are clustered (pass the most
 * recent or most relevant first).
 */

export interface UnknownItem {
  id: string;
  embedding: Float32Array;
}

export interface ClusterOptions {
  /** Linkage similarity at or above which two clusters merge. */
  threshold: number;
  minSize: number;
  maxItems: number;
  linkage: 'average' | 'complete';
}

export const DEFAULT_CLUSTER_OPTIONS: Readonly<ClusterOptions> = Object.freeze({
  threshold: 0.55,
  minSize: 3,
  maxItems: 5000,
  linkage: 'average' as const,
});

export interface UnknownCluster {
  /** Member ids, in input order. */
  ids: string[];
  /** Normalised mean of the members. */
  centroid: Float32Array;
  /** Mean pairwise cosine between members. */
  cohesion: number;
}

function summarise(members: readonly number[], vectors: readonly Float32Array[], items: readonly UnknownItem[]): UnknownCluster {
  const d = vectors[0].length;
  const sum = new Float32Array(d);
  for (const m of members) for (let i = 0; i < d; i++) sum[i] += vectors[m][i];
  const n = members.length;
  // Σᵢ≠ⱼ xᵢ·xⱼ = ‖Σx‖² − Σ‖x‖², with ‖x‖ = 1.
  const cohesion = n > 1 ? (dot(sum, sum) - n) / (n * (n - 1)) : 1;
  const sorted = [...members].sort((a, b) => a - b);
  return { ids: sorted.map((m) => items[m].id), centroid: normalise(sum), cohesion };
}

export function clusterUnknowns(items: readonly UnknownItem[], options: Partial<ClusterOptions> = {}): UnknownCluster[] {
  const o = { ...DEFAULT_CLUSTER_OPTIONS, ...options };
  if (!(o.threshold >= -1 && o.threshold <= 1) || !(o.minSize >= 1) || !(o.maxItems >= 1)) {
    throw new TrainingError('INVALID_OPTIONS', `invalid cluster options ${JSON.stringify(o)}`);
  }
  const used = items.slice(0, o.maxItems);
  const n = used.length;
  if (n === 0) return [];
  const d = used[0].embedding.length;
  const vectors = used.map((item) => {
    if (item.embedding.length !== d) throw new TrainingError('DIMENSION_MISMATCH', `item "${item.id}" has ${item.embedding.length} values, expected ${d}`);
    return normalise(Float32Array.from(item.embedding));
  });
  const rowStart = (i: number) => i * n - (i * (i + 1)) / 2 - i - 1;
  const at = (i: number, j: number) => (i < j ? rowStart(i) + j : rowStart(j) + i);
  const sim = new Float32Array((n * (n - 1)) / 2);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) sim[at(i, j)] = dot(vectors[i], vectors[j]);

  const active = new Uint8Array(n).fill(1);
  const members: number[][] = used.map((_, i) => [i]);
  const finished: number[][] = [];
  let remaining = n;
  const chain: number[] = [];
  let next = 0; // lowest index that may still be active
  while (remaining > 0) {
    if (chain.length === 0) {
      while (!active[next]) next++;
      chain.push(next);
    }
    const a = chain[chain.length - 1];
    const previous = chain.length > 1 ? chain[chain.length - 2] : -1;
    let best = -1;
    let bestSim = -Infinity;
    if (previous >= 0) {
      best = previous;
      bestSim = sim[at(a, previous)];
    }
    for (let x = 0; x < n; x++) {
      if (x === a || !active[x]) continue;
      const s = sim[at(a, x)];
      if (s > bestSim) {
        bestSim = s;
        best = x;
      }
    }
    if (best < 0 || bestSim < o.threshold) {
      // Nothing left to merge with at the threshold: this cluster is final.
      chain.pop();
      active[a] = 0;
      remaining--;
      finished.push(members[a]);
      continue;
    }
    if (best !== previous) {
      chain.push(best);
      continue;
    }
    // Reciprocal nearest neighbours: merge `a` into `best`.
    chain.pop();
    chain.pop();
    const na = members[a].length;
    const nb = members[best].length;
    for (let x = 0; x < n; x++) {
      if (x === a || x === best || !active[x]) continue;
      const sa = sim[at(a, x)];
      const sb = sim[at(best, x)];
      sim[at(best, x)] = o.linkage === 'average' ? (na * sa + nb * sb) / (na + nb) : Math.min(sa, sb);
    }
    members[best] = members[best].concat(members[a]);
    members[a] = [];
    active[a] = 0;
    remaining--;
  }
  return finished
    .filter((m) => m.length >= o.minSize)
    .map((m) => summarise(m, vectors, used))
    .sort((a, b) => b.ids.length - a.ids.length || b.cohesion - a.cohesion || (a.ids[0] < b.ids[0] ? -1 : 1));
}
