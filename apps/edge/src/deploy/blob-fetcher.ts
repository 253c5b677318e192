import { ApiClient, downloadBlob } from '@edgeloop/client';
import type { BlobLocation } from '@edgeloop/contracts';

export interface BlobFetcherOptions {
  /** Base URL for cloud-relative blob paths (`/api/v1/blobs/{sha256}`). */
  cloudUrl?: string;
  /** Bearer token for the cloud; never sent to absolute (e.g. presigned S3) URLs. */
  token?: string;
  attempts: number;
  backoffMs: number;
}

export class MissingCloudUrlError extends Error {
  constructor(url: string) {
    super(`blob location ${url} is relative to the cloud, but EDGE_CLOUD_URL is not set`);
    this.name = 'MissingCloudUrlError';
  }
}

/**
 * Downloads one blob to its place in the store: HTTP Range resume from `<dest>.part` (across retries and
 * restarts), retries with back-off, and the sha256 checked before the file gets its final name.
 */
export class BlobFetcher {
  private readonly cloud: ApiClient | undefined;
  private readonly direct = new ApiClient({ baseUrl: '' });

  constructor(private readonly options: BlobFetcherOptions) {
    this.cloud = options.cloudUrl ? new ApiClient({ baseUrl: options.cloudUrl, token: options.token }) : undefined;
  }

  /** `fetchedBytes` is what came over the network this time (the size minus what a partial file already held). */
  async fetch(location: BlobLocation, dest: string, signal?: AbortSignal): Promise<{ resumedFrom: number; fetchedBytes: number }> {
    const client = location.url.startsWith('/') ? this.cloud : this.direct;
    if (!client) throw new MissingCloudUrlError(location.url);
    const result = await downloadBlob(client, location.url, {
      sha256: location.sha256,
      size: location.size,
      dest,
      attempts: this.options.attempts,
      backoffMs: this.options.backoffMs,
      signal,
    });
    return { resumedFrom: result.resumedFrom, fetchedBytes: location.size - result.resumedFrom };
  }
}
