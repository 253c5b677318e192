/**
 * What a device running the base version downloads for the candidate: the blobs whose sha256 it does not
 * hold (fetched through `GET /api/v1/blobs/{sha256}`, body bytes counted), against the candidate's full
 * bundle (every file's bytes, as a device with an empty cache fetches them).
 */
import { apiPaths } from '@edgeloop/contracts';
import type { RetrainCloud } from './bench-cloud';

interface VersionFiles {
  manifest: { files: Array<{ role: string; sha256: string; size: number }> };
}

export interface CandidateDownload {
  baseVersion: number;
  candidateVersion: number;
  /** Roles whose blob differs from the base's. */
  changedRoles: string[];
  /** Body bytes of those blobs as downloaded from the API. */
  downloadedBytes: number;
  /** Sum of the candidate's file sizes (the full bundle). */
  fullBundleBytes: number;
  /** downloadedBytes / fullBundleBytes, in percent. */
  percentOfFull: number;
  headBytes: number;
}

export async function candidateDownload(cloud: RetrainCloud, model: string, baseVersion: number, candidateVersion: number): Promise<CandidateDownload> {
  const [base, candidate] = await Promise.all([
    cloud.api<VersionFiles>('GET', apiPaths.modelVersion(model, baseVersion)),
    cloud.api<VersionFiles>('GET', apiPaths.modelVersion(model, candidateVersion)),
  ]);
  const held = new Set(base.manifest.files.map((f) => f.sha256));
  const changed = candidate.manifest.files.filter((f) => !held.has(f.sha256));
  let downloadedBytes = 0;
  for (const file of changed) downloadedBytes += await cloud.download(apiPaths.blob(file.sha256));
  const fullBundleBytes = candidate.manifest.files.reduce((n, f) => n + f.size, 0);
  return {
    baseVersion,
    candidateVersion,
    changedRoles: changed.map((f) => f.role),
    downloadedBytes,
    fullBundleBytes,
    percentOfFull: Math.round((downloadedBytes / fullBundleBytes) * 10_000) / 100,
    headBytes: candidate.manifest.files.find((f) => f.role === 'head')?.size ?? 0,
  };
}
