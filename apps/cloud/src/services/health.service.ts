import { packageVersion } from '@edgeloop/config';
import { Injectable, OnApplicationShutdown } from '@nestjs/common';

export type ComponentCheck = () => Promise<void>;

export interface HealthReport {
  status: 'ok' | 'degraded';
  version: string;
  uptimeSeconds: number;
  components: Record<string, { status: 'up' | 'down'; error?: string; latencyMs: number }>;
}

/** Readiness: each infrastructure part registers a cheap check (a ping); the report says which are down. */
@Injectable()
export class HealthService implements OnApplicationShutdown {
  private readonly checks = new Map<string, ComponentCheck>();
  private readonly closers: Array<() => Promise<void>> = [];
  private readonly startedAt = Date.now();

  /** `close`: what the check holds of its own (a dedicated connection), released at shutdown. */
  register(name: string, check: ComponentCheck, close?: () => Promise<void>): void {
    this.checks.set(name, check);
    if (close) this.closers.push(close);
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.closers.splice(0).map((close) => close().catch(() => undefined)));
  }

  /** Liveness: answering at all is the check (a Kubernetes liveness probe must not restart a pod for a dependency). */
  live(): Pick<HealthReport, 'status' | 'version' | 'uptimeSeconds'> {
    return { status: 'ok', version: packageVersion(), uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000) };
  }

  async report(): Promise<HealthReport> {
    const components: HealthReport['components'] = {};
    await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        const started = performance.now();
        try {
          await withTimeout(check(), 2000);
          components[name] = { status: 'up', latencyMs: round(performance.now() - started) };
        } catch (err) {
          components[name] = { status: 'down', error: (err as Error).message, latencyMs: round(performance.now() - started) };
        }
      }),
    );
    const down = Object.values(components).some((c) => c.status === 'down');
    return {
      status: down ? 'degraded' : 'ok',
      version: packageVersion(),
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      components,
    };
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
