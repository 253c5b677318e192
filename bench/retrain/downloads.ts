/**
 * What a device running the base version downloads for the candidate: the blobs whose sha256 it does not
 * hold (fetched through `GET /api/v1/blobs/{sha256}`, body bytes counted), except that for the head it first
 * asks for a delta from its own head (`GET /api/v1/blobs/{head}/delta?from={base head}`) and, when there is one,
 * rebuilds the head from it and checks the sha256 the manifest names — as the edge does — counting only the
 * delta's bytes. Against the candidate's full bundle (every file's bytes, as a device with an empty cache
 * fetches them).
 */
import { apiPaths, headDeltaPath } from '@edgeloop/contracts';
import { applyHeadDelta, readHeadDeltaHeader } from '@edgeloop/vision';
import { createHash } from 'node:crypto';
import type { RetrainCloud } from './bench-cloud';

interface VersionFiles {
  manifest: { files: Array<{ role: string; sha256: string; size: number }>; lineage?: { trainer?: { method?: string } } };
}

export interface CandidateDownload {
  baseVersion: number;
  candidateVersion: number;
  /** Roles whose blob differs from the base's. */
  changedRoles: string[];
  /** Bytes a device on the base downloads: the head delta when one rebuilds the head, else the changed blobs whole. */
  downloadedBytes: number;
  /** Body bytes of the changed blobs downloaded whole (what a device downloads without a delta). */
  wholeBlobBytes: number;
  /** Sum of the candidate's file sizes (the full bundle). */
  fullBundleBytes: number;
  /** downloadedBytes / fullBundleBytes, in percent. */
  percentOfFull: number;
  /** wholeBlobBytes / fullBundleBytes, in percent. */
  percentWithoutDelta: number;
  headBytes: number;
  /** The method the candidate's trainer kept (`prototypes` or `logistic`), from its lineage. */
  trainer: string | null;
  /** The head delta from the base's head: its size, the head columns it copies and carries, and whether it rebuilt the head. */
  headDelta: { bytes: number; copied: number; carried: number; rebuilt: boolean } | null;
}

const percent = (part: number, whole: number) => Math.round((part / whole) * 10_000) / 100;

export async function candidateDownload(cloud: RetrainCloud, model: string, baseVersion: number, candidateVersion: number): Promise<CandidateDownload> {
  const [base, candidate] = await Promise.all([
    cloud.api<VersionFiles>('GET', apiPaths.modelVersion(model, baseVersion)),
    cloud.api<VersionFiles>('GET', apiPaths.modelVersion(model, candidateVersion)),
  ]);
  const held = new Set(base.manifest.files.map((f) => f.sha256));
  const changed = candidate.manifest.files.filter((f) => !held.has(f.sha256));
  const baseHead = base.manifest.files.find((f) => f.role === 'head');
  let downloadedBytes = 0;
  let wholeBlobBytes = 0;
  let headDelta: CandidateDownload['headDelta'] = null;
  for (const file of changed) {
    const whole = await cloud.download(apiPaths.blob(file.sha256));
    wholeBlobBytes += whole;
    const delta = file.role === 'head' && baseHead ? await cloud.fetchBytes(headDeltaPath(file.sha256, baseHead.sha256)) : null;
    if (delta && baseHead) {
      // the device holds its head already: read here only to apply the delta as the device does
      const baseBytes = await cloud.fetchBytes(apiPaths.blob(baseHead.sha256));
      const rebuilt = baseBytes ? applyHeadDelta(baseBytes, delta) : undefined;
      const ok = !!rebuilt && createHash('sha256').update(rebuilt).digest('hex') === file.sha256;
      const { header } = readHeadDeltaHeader(delta);
      const carried = header.columns.reduce((n, run) => n + ('add' in run ? run.add.length : 0), 0);
      const copied = header.columns.reduce((n, run) => n + ('count' in run ? run.count : 0), 0);
      headDelta = { bytes: delta.byteLength, copied, carried, rebuilt: ok };
      downloadedBytes += ok ? delta.byteLength : delta.byteLength + whole;
    } else downloadedBytes += whole;
  }
  const fullBundleBytes = candidate.manifest.files.reduce((n, f) => n + f.size, 0);
  return {
    baseVersion,
    candidateVersion,
    changedRoles: changed.map((f) => f.role),
    downloadedBytes,
    wholeBlobBytes,
    fullBundleBytes,
    percentOfFull: percent(downloadedBytes, fullBundleBytes),
    percentWithoutDelta: percent(wholeBlobBytes, fullBundleBytes),
    headBytes: candidate.manifest.files.find((f) => f.role === 'head')?.size ?? 0,
    trainer: candidate.manifest.lineage?.trainer?.method ?? null,
    headDelta,
  };
}
