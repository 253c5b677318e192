import type { DesiredState } from '@edgeloop/contracts';
import { Logger } from '../logger';

export type DesiredJobResult = 'done' | 'retry';
export type DesiredHandler = (desired: DesiredState, signal: AbortSignal) => Promise<DesiredJobResult>;

/** Two desired states are the same message when their signatures are (the signature covers every field). */
export function sameDesired(a: DesiredState | undefined, b: DesiredState | undefined): boolean {
  return a !== undefined && b !== undefined && a.signature.value === b.signature.value;
}

/**
 * Handles desired states one at a time. A newer one replaces the pending one and aborts the one in
 * progress (its downloads stop; a switch already under way completes first); the same message delivered
 * again (the retained desired after a reconnect) is ignored while it is pending or in progress. A job that
 * ends with `retry` (network or storage trouble) runs again after a growing delay unless a newer one came.
 */
export class DesiredStateQueue {
  private readonly logger = new Logger(DesiredStateQueue.name);
  private pending: DesiredState | undefined;
  private current: { desired: DesiredState; abort: AbortController } | undefined;
  private running: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay: number;
  private stopped = false;

  constructor(
    private readonly handle: DesiredHandler,
    private readonly retryMs: number,
    private readonly maxRetryMs = Math.max(retryMs, 300_000),
  ) {
    this.retryDelay = retryMs;
  }

  push(desired: DesiredState): void {
    if (this.stopped || sameDesired(this.current?.desired, desired) || sameDesired(this.pending, desired)) return;
    this.cancelRetry();
    this.retryDelay = this.retryMs;
    this.pending = desired;
    this.current?.abort.abort();
    this.kick();
  }

  /** The retained desired state was cleared: forget what is waiting (what runs keeps running). */
  clearPending(): void {
    this.pending = undefined;
    this.cancelRetry();
  }

  get busy(): boolean {
    return this.current !== undefined || this.pending !== undefined;
  }

  /** Resolves once nothing is pending or in progress. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.pending = undefined;
    this.cancelRetry();
    this.current?.abort.abort();
    await this.idle();
  }

  private kick(): void {
    this.running ??= this.drain().finally(() => (this.running = undefined));
  }

  private async drain(): Promise<void> {
    while (this.pending && !this.stopped) {
      const desired = this.pending;
      this.pending = undefined;
      const abort = new AbortController();
      this.current = { desired, abort };
      let result: DesiredJobResult = 'done';
      try {
        result = await this.handle(desired, abort.signal);
      } catch (err) {
        this.logger.error(`desired state ${desired.deploymentId}: ${(err as Error).stack ?? String(err)}`);
      } finally {
        this.current = undefined;
      }
      if (result === 'retry' && !this.pending && !this.stopped) this.scheduleRetry(desired);
    }
  }

  private scheduleRetry(desired: DesiredState): void {
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.maxRetryMs, this.retryDelay * 2);
    this.logger.info(`deployment ${desired.deploymentId}: trying again in ${Math.round(delay / 1000)} s`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.pending || this.stopped) return;
      this.pending = desired;
      this.kick();
    }, delay);
    this.retryTimer.unref();
  }

  private cancelRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }
}
