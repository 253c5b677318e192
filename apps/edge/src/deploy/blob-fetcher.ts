import { ApiClient, downloadBlob, requestOnce } from '@edgeloop/client';
import { headDeltaPath, MAX_HEAD_DELTA_BYTES, type BlobLocation } from '@edgeloop/contracts';
import { Logger } from '../logger';

export interface BlobFetcherOptions {
  /** Base URL for cloud-relative blob paths (`/api/v1/blobs/{sha256}`). */
  cloudUrl?: string;
  /** Bearer token for the cloud; never sent to absolute (e.g. presigned S3) URLs. */
  token?: string;
  attempts: number;
  backoffMs: number;
  /** No byte for this long ends a GET; the next attempt resumes with Range. Default 30 000. */
  stallTimeoutMs?: number;
}

export class MissingCloudUrlError extends Error {
  constructor(url: string) {
    super(`blob location ${url} is relative to the cloud, but EDGE_CLOUD_URL is not set`);
    this.name = 'MissingCloudUrlError';
  }
}

export interface BlobFetchResult {
  /** Bytes a partial file already held when this fetch started. */
  resumedFrom: number;
  /** Body bytes received over the network by this fetch, every attempt included (also those discarded). */
  fetchedBytes: number;
  /** Offsets of the Range requests this fetch made (a resume after a break, or of an earlier partial file). */
  resumes: number[];
}

/**
 * Downloads one blob to its place in the store: HTTP Range resume from `<dest>.part` (across retries and
 * restarts), retries with back-off, a stall timeout per request, and the sha256 checked before the file
 * gets its final name. Every resume is logged; every byte received is reported through `onBytes` as it
 * arrives, so a fetch that fails still counts what it moved.
 */
export class BlobFetcher {
  private readonly logger = new Logger(BlobFetcher.name);
  private readonly cloud: ApiClient | undefined;
  private readonly direct = new ApiClient({ baseUrl: '' });

  constructor(private readonly options: BlobFetcherOptions) {
    this.cloud = options.cloudUrl ? new ApiClient({ baseUrl: options.cloudUrl, token: options.token }) : undefined;
  }

  async fetch(location: BlobLocation, dest: string, signal?: AbortSignal, onBytes?: (bytes: number) => void): Promise<BlobFetchResult> {
    const client = location.url.startsWith('/') ? this.cloud : this.direct;
    if (!client) throw new MissingCloudUrlError(location.url);
    const short = `${location.sha256.slice(0, 12)}…`;
    const result = await downloadBlob(client, location.url, {
      sha256: location.sha256,
      size: location.size,
      dest,
      attempts: this.options.attempts,
      backoffMs: this.options.backoffMs,
      stallTimeoutMs: this.options.stallTimeoutMs,
      onBytes,
      onResume: (offset, attempt) => this.logger.info(`blob ${short} resuming at byte ${offset} of ${location.size} (attempt ${attempt + 1})`),
      signal,
    });
    return { resumedFrom: result.resumedFrom, fetchedBytes: result.receivedBytes, resumes: result.resumes };
  }

  /**
   * The head delta from the head `baseSha256` to the head `targetSha256` (`GET /api/v1/blobs/{target}/delta?from=`),
   * or undefined when the cloud has none (404), no cloud URL is set, or the answer is too large. Other failures
   * throw; either way the caller falls back to the full blob. The bytes are unchecked: the caller applies them
   * and keeps the result only if it hashes to the signed manifest's sha256.
   */
  async fetchHeadDelta(targetSha256: string, baseSha256: string, signal?: AbortSignal, onBytes?: (bytes: number) => void): Promise<Uint8Array | undefined> {
    if (!this.cloud) return undefined;
    const timeout = AbortSignal.timeout(this.options.stallTimeoutMs ?? 30_000);
    const path = headDeltaPath(targetSha256, baseSha256);
    const res = await requestOnce(new URL(this.cloud.url(path)), this.cloud.headers(), signal ? AbortSignal.any([signal, timeout]) : timeout);
    try {
      if (res.statusCode === 404) return undefined;
      if (res.statusCode !== 200) throw new Error(`GET ${path} answered ${res.statusCode}`);
      if (Number(res.headers['content-length'] ?? NaN) > MAX_HEAD_DELTA_BYTES) return undefined;
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of res as AsyncIterable<Buffer>) {
        total += chunk.byteLength;
        onBytes?.(chunk.byteLength);
        if (total > MAX_HEAD_DELTA_BYTES) return undefined;
        chunks.push(chunk);
      }
      return new Uint8Array(Buffer.concat(chunks));
    } finally {
      res.destroy();
    }
  }
}
