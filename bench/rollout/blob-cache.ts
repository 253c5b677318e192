import { ApiClient, downloadBlob } from '@edgeloop/client';
import type { DesiredState } from '@edgeloop/contracts';
import { existsSync, mkdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';

/** What fetching the blobs of one desired state cost a device. */
export interface DownloadTally {
  /** Body bytes received from `GET /api/v1/blobs/{sha256}`. */
  bytes: number;
  /** Blobs fetched (each one GET unless a retry was needed). */
  fetched: number;
  /** Blobs of the desired state already in the cache. */
  cacheHits: number;
  ms: number;
}

/**
 * A device's content-addressed blob store: a folder of files named by their sha256. The blobs of a
 * desired state that are not there yet are downloaded with the device's HTTP token through
 * `downloadBlob` (the edge worker's client: Range resume, retries, sha256 checked before the file is
 * renamed into place), and the bytes received are counted.
 */
export class BlobCache {
  private readonly tallies = new Map<string, DownloadTally>();

  constructor(
    readonly dir: string,
    private readonly api: ApiClient,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  async fetchMissing(desired: DesiredState): Promise<DownloadTally> {
    const started = performance.now();
    const tally: DownloadTally = { bytes: 0, fetched: 0, cacheHits: 0, ms: 0 };
    this.tallies.set(desired.deploymentId, tally);
    for (const blob of desired.blobs) {
      const dest = path.join(this.dir, blob.sha256);
      if (existsSync(dest)) {
        tally.cacheHits++;
        continue;
      }
      let last = await sizeOf(`${dest}.part`);
      tally.fetched++;
      await downloadBlob(this.api, blob.url, {
        sha256: blob.sha256,
        size: blob.size,
        dest,
        onProgress: (received) => {
          // a retry that starts over (no Range answer) counts its bytes again
          tally.bytes += received >= last ? received - last : received;
          last = received;
        },
      });
    }
    const missing = desired.manifest.manifest.files.filter((f) => !existsSync(path.join(this.dir, f.sha256)));
    if (missing.length > 0) throw new Error(`after download, the cache lacks ${missing.map((f) => f.role).join(', ')}`);
    tally.ms = performance.now() - started;
    return tally;
  }

  tally(deploymentId: string): DownloadTally | undefined {
    return this.tallies.get(deploymentId);
  }
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}
