import { assertSameSpec, histogramTotal, type Histogram } from './histogram';

/**
 * Population stability index between a reference and a current histogram:
 *
 *   PSI = Σᵢ (cᵢ − rᵢ) · ln(cᵢ / rᵢ)
 *
 * over bins with reference share rᵢ and current share cᵢ (Siddiqi, "Credit Risk Scorecards", 2006;
 * Yurdakul, "Statistical properties of the population stability index", 2018). Shares below
 * `epsilon` are raised to it so an empty bin adds a large but finite term.
 *
 * PSI grows with the number of bins even between samples of one distribution: for n and m values
 * and B bins its expectation is about (B − 1)(1/n + 1/m) (it is a symmetrised χ²). So the fine
 * storage bins are first grouped into `bins` groups of about equal reference mass (reference
 * deciles by default, the usual practice); empty reference bins join their neighbours.
 */
export interface PsiOptions {
  /** Groups of about equal reference mass. Default 10. */
  bins?: number;
  /** Floor on a bin's share. Default 1e-4. */
  epsilon?: number;
}

export const DEFAULT_PSI_OPTIONS: Readonly<Required<PsiOptions>> = { bins: 10, epsilon: 1e-4 };

/** Conventional reading: below 0.1 stable, 0.1–0.25 a moderate shift, from 0.25 a significant shift. */
export const PSI_LEVELS = { moderate: 0.1, significant: 0.25 } as const;

export type PsiSeverity = 'stable' | 'moderate' | 'significant';

export function psiSeverity(psi: number, levels: { moderate: number; significant: number } = PSI_LEVELS): PsiSeverity {
  if (psi >= levels.significant) return 'significant';
  if (psi >= levels.moderate) return 'moderate';
  return 'stable';
}

/** PSI, or null when either histogram is empty; throws `INCOMPATIBLE_HISTOGRAMS` when the bins differ. */
export function populationStabilityIndex(reference: Histogram, current: Histogram, options: PsiOptions = {}): number | null {
  assertSameSpec(reference, current);
  const { bins, epsilon } = { ...DEFAULT_PSI_OPTIONS, ...options };
  if (!(Number.isInteger(bins) && bins >= 1)) throw new RangeError(`PSI bins must be a positive integer, got ${bins}`);
  if (!(epsilon > 0 && epsilon < 1)) throw new RangeError(`PSI epsilon must be in (0, 1), got ${epsilon}`);
  const referenceTotal = histogramTotal(reference);
  const currentTotal = histogramTotal(current);
  if (referenceTotal === 0 || currentTotal === 0) return null;

  let psi = 0;
  for (const [start, end] of equalMassGroups(reference.counts, bins)) {
    let r = 0;
    let c = 0;
    for (let i = start; i < end; i++) {
      r += reference.counts[i];
      c += current.counts[i];
    }
    const rShare = Math.max(r / referenceTotal, epsilon);
    const cShare = Math.max(c / currentTotal, epsilon);
    psi += (cShare - rShare) * Math.log(cShare / rShare);
  }
  return psi;
}

/**
 * Half-open index ranges [start, end) that cover every bin, cut where the reference's running mass
 * first reaches k/groups of its total. A bin holding more than one group's worth of mass makes
 * fewer, larger groups; leading and trailing empty bins join the first and last group.
 */
export function equalMassGroups(referenceCounts: readonly number[], groups: number): Array<[number, number]> {
  const total = referenceCounts.reduce((sum, count) => sum + count, 0);
  const ranges: Array<[number, number]> = [];
  let start = 0;
  let running = 0;
  let next = 1;
  for (let i = 0; i < referenceCounts.length - 1; i++) {
    running += referenceCounts[i];
    if (next < groups && running > 0 && running >= (total * next) / groups) {
      ranges.push([start, i + 1]);
      start = i + 1;
      while (next < groups && running >= (total * next) / groups) next++;
    }
  }
  ranges.push([start, referenceCounts.length]);
  return ranges;
}
