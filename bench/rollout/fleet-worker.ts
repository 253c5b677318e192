/**
 * The simulated devices, in a worker thread of their own: verifying a thousand signed desired states at
 * once must not delay the thread that sends the API requests and reads the clock (fleet.ts drives this
 * worker by messages; see `FleetCommand`).
 */
import { ApiClient } from '@edgeloop/client';
import type { ModelVersionRef } from '@edgeloop/contracts';
import { createPublicKey } from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import { median } from '../common/stats';
import { BenchDevice } from './bench-device';
import { BlobCache, type DownloadTally } from './blob-cache';

export interface DeviceCredentials {
  id: string;
  mqttUrl: string;
  password: string;
  httpToken: string;
}

export type FleetCommand =
  | { kind: 'join'; devices: DeviceCredentials[]; publicKeyPem: string; applyMs: number; cloudUrl: string; cacheRoot: string | null; concurrency: number }
  | { kind: 'track'; ids: string[]; model: ModelVersionRef }
  | { kind: 'converged'; timeoutMs: number }
  | { kind: 'tallies'; ids: string[]; deploymentId: string }
  | { kind: 'stop' };

/** What the tracked devices did with one desired state; instants are wall-clock ms. */
export interface ConvergenceSnapshot {
  converged: boolean;
  expected: number;
  received: number[];
  active: number[];
  failed: Array<[id: string, why: string]>;
  /** CPU time the simulators spent on receipt (JSON, schema, two Ed25519 signatures), summed. */
  checkMsTotal: number;
  desiredBytesMedian: number;
}

export type FleetAnswer = { ok: true; value: unknown } | { ok: false; error: string };

/** Follows the devices of one deployment (by the model version it sends) as they report progress. */
class ConvergenceTracker {
  private readonly received = new Map<string, number>();
  private readonly active = new Map<string, number>();
  private readonly failed = new Map<string, string>();
  private readonly desiredBytes = new Map<string, number>();
  private readonly checkMs = new Map<string, number>();
  private done: (() => void) | undefined;
  readonly settled: Promise<void>;

  constructor(
    private readonly expected: ReadonlySet<string>,
    private readonly model: ModelVersionRef,
  ) {
    this.settled = new Promise((resolve) => (this.done = resolve));
    if (expected.size === 0) this.done?.();
  }

  onProgress(device: BenchDevice): void {
    const progress = device.progress;
    if (!progress || !this.expected.has(device.id)) return;
    if (progress.model.name !== this.model.name || progress.model.version !== this.model.version) return;
    if (!this.received.has(device.id)) {
      this.received.set(device.id, progress.receivedAt);
      this.desiredBytes.set(device.id, progress.desiredBytes);
      this.checkMs.set(device.id, progress.checkMs);
    }
    if (progress.failure) this.failed.set(device.id, progress.failure);
    if (progress.activeSentAt !== null) this.active.set(device.id, progress.activeSentAt);
    if (this.active.size + this.failed.size === this.expected.size) this.done?.();
  }

  snapshot(converged: boolean): ConvergenceSnapshot {
    return {
      converged,
      expected: this.expected.size,
      received: [...this.received.values()],
      active: [...this.active.values()],
      failed: [...this.failed.entries()],
      checkMsTotal: [...this.checkMs.values()].reduce((a, b) => a + b, 0),
      desiredBytesMedian: median([...this.desiredBytes.values()]),
    };
  }
}

class SimulatedFleet {
  private readonly devices = new Map<string, BenchDevice>();
  private tracker: ConvergenceTracker | null = null;

  async handle(command: FleetCommand): Promise<unknown> {
    switch (command.kind) {
      case 'join':
        return this.join(command);
      case 'track':
        this.tracker = new ConvergenceTracker(new Set(command.ids), command.model);
        for (const id of command.ids) if (!this.devices.has(id)) throw new Error(`no simulated device ${id}`);
        return null;
      case 'converged':
        return this.converged(command.timeoutMs);
      case 'tallies':
        return command.ids.map((id): DownloadTally | null => this.devices.get(id)?.options.blobs?.tally(command.deploymentId) ?? null);
      case 'stop':
        await mapLimit([...this.devices.values()], 50, (device) => device.stop());
        return null;
    }
  }

  private async join(command: Extract<FleetCommand, { kind: 'join' }>): Promise<{ connectMs: number }> {
    const publicKey = createPublicKey(command.publicKeyPem);
    const joined = command.devices.map(
      (credentials) =>
        new BenchDevice({
          id: credentials.id,
          mqttUrl: credentials.mqttUrl,
          password: credentials.password,
          publicKey,
          applyMs: command.applyMs,
          blobs: command.cacheRoot
            ? new BlobCache(path.join(command.cacheRoot, credentials.id), new ApiClient({ baseUrl: command.cloudUrl, token: credentials.httpToken }))
            : undefined,
          onProgress: (device) => this.tracker?.onProgress(device),
        }),
    );
    const started = performance.now();
    await mapLimit(joined, command.concurrency, (device) => device.connect());
    for (const device of joined) this.devices.set(device.id, device);
    return { connectMs: performance.now() - started };
  }

  private async converged(timeoutMs: number): Promise<ConvergenceSnapshot> {
    const tracker = this.tracker;
    if (!tracker) throw new Error('nothing is tracked');
    let timer: NodeJS.Timeout | undefined;
    const converged = await Promise.race([
      tracker.settled.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    this.tracker = null;
    return tracker.snapshot(converged);
  }
}

/** `work` over `items`, at most `limit` at a time; results in input order; the first failure rejects. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]);
    }
  });
  await Promise.all(lanes);
  return results;
}

if (parentPort) {
  const port = parentPort;
  const fleet = new SimulatedFleet();
  port.on('message', ({ id, command }: { id: number; command: FleetCommand }) => {
    fleet.handle(command).then(
      (value) => port.postMessage({ id, answer: { ok: true, value } satisfies FleetAnswer }),
      (err: Error) => port.postMessage({ id, answer: { ok: false, error: err.stack ?? err.message } satisfies FleetAnswer }),
    );
  });
}
