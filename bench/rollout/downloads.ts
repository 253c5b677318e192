import type { ModelVersionRef } from '@edgeloop/contracts';
import { median } from '../common/stats';
import { measureConvergence, type ConvergenceContext, type ConvergenceRun } from './convergence';
import { round } from './report';

/** Blob bytes the downloading devices fetched for one deployment. */
export interface DownloadRun {
  model: string;
  devices: number;
  bytesPerDevice: { min: number; median: number; max: number };
  /** Blobs downloaded and blobs found in the cache, per device (median). */
  fetchedPerDevice: number;
  cacheHitsPerDevice: number;
  /** Median time a device spent fetching (all of them at once through one cloud). */
  fetchMsMedian: number;
  /** The desired-state message itself (MQTT payload), per device. */
  desiredStateBytes: number;
  convergence: Pick<ConvergenceRun, 'deploymentId' | 'postMs' | 'allReceivedMs' | 'allActiveMs' | 'completedTickMs' | 'completedSeenMs' | 'failures'>;
}

/** Deploys `model` to the downloading devices and reads what each one's blob cache fetched for it. */
export async function measureDownloads(ctx: ConvergenceContext, model: ModelVersionRef): Promise<DownloadRun> {
  const run = await measureConvergence(ctx, model);
  const tallies = (await ctx.fleet.tallies(ctx.ids, run.deploymentId)).map((tally, i) => {
    if (!tally) throw new Error(`${ctx.ids[i]} has no download record for ${run.deploymentId}`);
    return tally;
  });
  const bytes = tallies.map((t) => t.bytes);
  return {
    model: run.model,
    devices: ctx.ids.length,
    bytesPerDevice: { min: Math.min(...bytes), median: median(bytes), max: Math.max(...bytes) },
    fetchedPerDevice: median(tallies.map((t) => t.fetched)),
    cacheHitsPerDevice: median(tallies.map((t) => t.cacheHits)),
    fetchMsMedian: round(median(tallies.map((t) => t.ms))),
    desiredStateBytes: run.desiredStateBytes,
    convergence: {
      deploymentId: run.deploymentId,
      postMs: run.postMs,
      allReceivedMs: run.allReceivedMs,
      allActiveMs: run.allActiveMs,
      completedTickMs: run.completedTickMs,
      completedSeenMs: run.completedSeenMs,
      failures: run.failures,
    },
  };
}
