import { ApiClient, ApiError } from '@edgeloop/client';
import { apiPaths, type DeviceSummary, type ModelVersionRef, type ProvisionDeviceResponse } from '@edgeloop/contracts';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { DownloadTally } from './blob-cache';
import { mapLimit, type ConvergenceSnapshot, type DeviceCredentials, type FleetAnswer, type FleetCommand } from './fleet-worker';

/** Concurrent requests while provisioning and concurrent MQTT handshakes while connecting. */
const PROVISION_CONCURRENCY = 16;
const CONNECT_CONCURRENCY = 50;
const SETTLE_TIMEOUT_MS = 180_000;
const PROVISION_ATTEMPTS = 4;

export interface FleetOptions {
  api: ApiClient;
  cloudUrl: string;
  mqttUrl: string;
  publicKeyPem: string;
  applyMs: number;
}

export interface JoinTiming {
  devices: number;
  provisionMs: number;
  /** Provisioning requests answered with a 5xx and made again under a new id. */
  provisionRetries: number;
  connectMs: number;
  /** Until the cloud lists every one of them online with a reported state. */
  settledMs: number;
}

/**
 * The simulated fleet, seen from the thread that drives the benchmark: devices are provisioned here
 * through `POST /api/v1/devices` (each gets its own MQTT password and HTTP token), and simulated in a
 * worker thread (fleet-worker.ts) that this class commands.
 */
export class Fleet {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
  private nextId = 0;
  private readonly groups = new Map<string, string[]>();

  constructor(private readonly options: FleetOptions) {
    this.worker = new Worker(path.join(__dirname, 'fleet-worker.js'));
    this.worker.on('message', ({ id, answer }: { id: number; answer: FleetAnswer }) => {
      const waiting = this.pending.get(id);
      this.pending.delete(id);
      if (answer.ok) waiting?.resolve(answer.value);
      else waiting?.reject(new Error(`simulated fleet: ${answer.error}`));
    });
    this.worker.on('error', (err) => this.failAll(err));
    this.worker.on('exit', (code) => this.failAll(new Error(`the simulated fleet's worker exited (${code})`)));
  }

  /** Device ids of a group, in the order they joined. */
  ids(group: string): string[] {
    return this.groups.get(group) ?? [];
  }

  /** Provisions `count` more devices into `group` and connects them; `cacheRoot` makes them real downloaders. */
  async join(group: string, count: number, cacheRoot?: string): Promise<JoinTiming> {
    const first = this.ids(group).length;
    const ids = Array.from({ length: count }, (_, i) => `${group}-${String(first + i).padStart(4, '0')}`);
    let started = performance.now();
    let provisionRetries = 0;
    // a 5xx (at load 30 Mosquitto's dynamic-security plugin can take more than the cloud's 5 s to answer) is
    // retried under a new id: the failed attempt may have left its device row behind
    const provision = async (id: string) => {
      for (let attempt = 0; ; attempt++) {
        const tried = attempt === 0 ? id : `${id}-r${attempt}`;
        try {
          return await this.options.api.post<ProvisionDeviceResponse & { mqttUrl: string }>(apiPaths.devices(), { id: tried, name: `bench camera ${tried}`, group });
        } catch (err) {
          if (!(err instanceof ApiError) || err.status < 500 || attempt >= PROVISION_ATTEMPTS - 1) throw err;
          provisionRetries++;
        }
      }
    };
    const provisioned = await mapLimit(ids, PROVISION_CONCURRENCY, provision);
    const provisionMs = performance.now() - started;
    const devices = provisioned.map((p): DeviceCredentials => {
      if (p.mqttUrl !== this.options.mqttUrl) throw new Error(`provisioning answered mqttUrl ${p.mqttUrl}, the broker is ${this.options.mqttUrl}`);
      return { id: p.device.id, mqttUrl: p.mqttUrl, password: p.credentials.mqtt.password, httpToken: p.credentials.http.token };
    });
    const { connectMs } = (await this.command({
      kind: 'join',
      devices,
      publicKeyPem: this.options.publicKeyPem,
      applyMs: this.options.applyMs,
      cloudUrl: this.options.cloudUrl,
      cacheRoot: cacheRoot ?? null,
      concurrency: CONNECT_CONCURRENCY,
    })) as { connectMs: number };
    const joined = devices.map((d) => d.id);
    this.groups.set(group, [...this.ids(group), ...joined]);
    started = performance.now();
    await this.settled(group, joined, null);
    return { devices: count, provisionMs, provisionRetries, connectMs, settledMs: performance.now() - started };
  }

  /** Starts following `ids` as they apply `model`: call before the deployment is created. */
  async track(ids: string[], model: ModelVersionRef): Promise<void> {
    await this.command({ kind: 'track', ids, model });
  }

  /** Resolves when every tracked device is active or failed, or after `timeoutMs` with what happened so far. */
  async converged(timeoutMs: number): Promise<ConvergenceSnapshot> {
    return (await this.command({ kind: 'converged', timeoutMs })) as ConvergenceSnapshot;
  }

  /** What each device's blob cache fetched for one deployment (null for a device that is not a downloader). */
  async tallies(ids: string[], deploymentId: string): Promise<Array<DownloadTally | null>> {
    return (await this.command({ kind: 'tallies', ids, deploymentId })) as Array<DownloadTally | null>;
  }

  /**
   * Waits until the cloud lists every device of `ids` online with the reported state it last sent
   * (running `model` when given), so that no report is still queued in the cloud when a timing starts.
   */
  async settled(group: string, ids: string[], model: ModelVersionRef | null, timeoutMs = SETTLE_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const wanted = new Set(ids);
    let pending = wanted.size;
    while (Date.now() < deadline) {
      const { devices: listed } = await this.options.api.get<{ devices: DeviceSummary[] }>(`${apiPaths.devices()}?group=${encodeURIComponent(group)}`);
      pending = wanted.size - listed.filter((d) => wanted.has(d.id) && d.presence === 'online' && d.reported !== null && runs(d, model)).length;
      if (pending === 0) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${pending} of ${wanted.size} devices of ${group} were not listed online${model ? ` on ${model.name}@${model.version}` : ''} within ${timeoutMs} ms`);
  }

  async stop(): Promise<void> {
    await this.command({ kind: 'stop' }).catch(() => undefined);
    await this.worker.terminate();
  }

  private command(command: FleetCommand): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, command });
    });
  }

  private failAll(err: Error): void {
    for (const waiting of this.pending.values()) waiting.reject(err);
    this.pending.clear();
  }
}

function runs(device: DeviceSummary, model: ModelVersionRef | null): boolean {
  if (!model) return true;
  const running = device.reported?.running;
  return device.reported?.state === 'active' && running?.name === model.name && running.version === model.version;
}
