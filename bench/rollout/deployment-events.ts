import type { ApiClient } from '@edgeloop/client';
import { wallMs } from './report';

/** The domain events that say a deployment has finished (`RolloutService.announce`). */
const FINISHED = new Set(['deployment.completed', 'deployment.failed', 'deployment.rolled_back']);

/**
 * Follows the cloud's live event stream (`GET /api/v1/events`, server-sent events) and notes when each
 * deployment was announced finished, so that the bench learns of completion without polling
 * `GET /api/v1/deployments/{id}` — which lists every device of the deployment and, at 5,000 devices, cost the
 * cloud 0.2–0.4 s an answer while the rollout it measures was finishing.
 */
export class DeploymentEvents {
  private readonly finishedAt = new Map<string, number>();
  private readonly waiting = new Map<string, () => void>();
  private readonly abort = new AbortController();
  private readonly ready: Promise<void>;

  constructor(api: ApiClient) {
    this.ready = this.follow(api);
  }

  /** Resolves once the stream is open (events before this are not seen). */
  async open(): Promise<void> {
    await this.ready;
  }

  /** Wall clock when `deploymentId` was announced finished; rejects after `timeoutMs`. */
  finished(deploymentId: string, timeoutMs: number): Promise<number> {
    const known = this.finishedAt.get(deploymentId);
    if (known !== undefined) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(deploymentId);
        reject(new Error(`deployment ${deploymentId} was not announced finished within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(deploymentId, () => {
        clearTimeout(timer);
        resolve(this.finishedAt.get(deploymentId)!);
      });
    });
  }

  close(): void {
    this.abort.abort();
  }

  private follow(api: ApiClient): Promise<void> {
    return new Promise<void>((opened, failed) => {
      void (async () => {
        const res = await fetch(`${api.baseUrl}/api/v1/events`, {
          headers: { accept: 'text/event-stream', ...(api.token ? { authorization: `Bearer ${api.token}` } : {}) },
          signal: this.abort.signal,
        });
        if (!res.ok || !res.body) throw new Error(`GET /api/v1/events answered ${res.status}`);
        const decoder = new TextDecoder();
        let buffered = '';
        for await (const chunk of res.body) {
          buffered += decoder.decode(chunk as Uint8Array, { stream: true });
          let end: number;
          while ((end = buffered.indexOf('\n\n')) >= 0) {
            const block = buffered.slice(0, end);
            buffered = buffered.slice(end + 2);
            const type = /^event: ?(.*)$/m.exec(block)?.[1];
            if (type === 'ready') opened();
            if (!type || !FINISHED.has(type)) continue;
            const data = block
              .split('\n')
              .filter((line) => line.startsWith('data:'))
              .map((line) => line.replace(/^data: ?/, ''))
              .join('\n');
            const id = (JSON.parse(data) as { data?: { deploymentId?: string } }).data?.deploymentId;
            if (!id || this.finishedAt.has(id)) continue;
            this.finishedAt.set(id, wallMs());
            this.waiting.get(id)?.();
            this.waiting.delete(id);
          }
        }
      })().catch((err: Error) => {
        if (!this.abort.signal.aborted) failed(err);
      });
    });
  }
}
