import { BlobIntegrityError } from '@edgeloop/client';
import {
  formatModelRef,
  verifyDesiredState,
  type DeployFailureCode,
  type DesiredState,
  type ModelFileRole,
  type ModelVersionRef,
  type SignedManifest,
} from '@edgeloop/contracts';
import { applyHeadDelta, readDeltaBase } from '@edgeloop/vision';
import { createHash, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { DeviceStateTracker } from '../agent/device-state';
import { Logger } from '../logger';
import type { EdgeMetrics } from '../ops/edge-metrics';
import type { ModelRuntime } from '../runtime/model-runtime';
import { PIPELINE_ROLES, REQUIRED_ROLES, sharesBackbone, type LoadedModel, type PipelineLoader } from '../runtime/pipeline-loader';
import { writeFileAtomic } from '../store/atomic-file';
import type { DesiredStateWatermark } from '../store/desired-watermark';
import type { ModelStore, VersionPointer } from '../store/model-store';
import type { BlobFetcher } from './blob-fetcher';

export type DeployOutcome =
  | { result: 'active'; ref: ModelVersionRef; changed: boolean }
  | { result: 'failed'; code: DeployFailureCode; message: string; transient: boolean }
  | { result: 'superseded' };

/** A refusal or failure with its reported code; `transient` ones are retried later. */
export class DeploymentError extends Error {
  constructor(
    readonly code: DeployFailureCode,
    message: string,
    readonly transient = false,
  ) {
    super(message);
    this.name = 'DeploymentError';
  }
}

class Superseded extends Error {}

/** Both pointers as a switch leaves them. */
interface PointerPlan {
  active: VersionPointer;
  lastKnownGood: VersionPointer | null;
}

export interface DeployerDeps {
  deviceId: string;
  publicKey: KeyObject | undefined;
  store: ModelStore;
  /** The newest accepted desired state's issuedAt, on disk: older ones (replays) are refused. */
  watermark: DesiredStateWatermark;
  fetcher: BlobFetcher;
  loader: PipelineLoader;
  runtime: ModelRuntime;
  tracker: DeviceStateTracker;
  metrics: EdgeMetrics;
  /** The base folder's version, the fallback when no last-known-good version is installed. */
  baseRef: ModelVersionRef | null;
  /** Files of the base folder by sha256: copied into the store instead of downloaded. */
  baseFiles: ReadonlyMap<string, string>;
}

/**
 * Applies one verified desired state: refuse what must be refused (another device, a bad signature, a
 * state issued before the newest one accepted — a replay —, a bundle the pipeline cannot run, a downgrade
 * without `rollback`), download the blobs the store lacks,
 * check every sha256, load and warm the new pipeline, switch between two frames (reported `active` from
 * then on), then store the manifest and move the pointers and collect garbage. Any failure before the
 * switch leaves the previous version serving frames.
 */
export class Deployer {
  private readonly logger = new Logger(Deployer.name);
  /** A switch whose manifest or pointers could not be written (a storage failure after the swap): written on its retry. */
  private unstored: { model: LoadedModel; signed: SignedManifest; pointers: PointerPlan } | undefined;

  constructor(private readonly deps: DeployerDeps) {}

  async apply(desired: DesiredState, signal: AbortSignal): Promise<DeployOutcome> {
    const { tracker } = this.deps;
    const target = { name: desired.model.name, version: desired.model.version };
    const deploymentId = desired.deploymentId;
    const label = `${formatModelRef(target)} (deployment ${deploymentId})`;
    try {
      this.refuse(desired);
      await this.admit(desired);
      const running = this.deps.runtime.current;
      if (running && this.sameBundle(running, desired)) {
        await this.storage(() => this.recordDeployment(running, deploymentId));
        tracker.set({ state: 'active', deploymentId, target: null });
        this.logger.info(`${label}: already running`);
        return { result: 'active', ref: target, changed: false };
      }
      this.logger.info(`${label}: applying`);
      const phases = new PhaseClock();
      // Read while the blobs are fetched and checked: the switch itself then waits for no file.
      const { manifest } = desired.manifest;
      const plannedPointers = this.planPointers({ name: manifest.name, version: manifest.version }, running, deploymentId);
      tracker.set({ state: 'downloading', deploymentId, target });
      await this.download(desired, signal);
      phases.lap('download');
      tracker.set({ state: 'verifying', deploymentId, target });
      await this.verifyBlobs(desired, running);
      phases.lap('verify');
      if (signal.aborted) throw new Superseded();
      tracker.set({ state: 'warming', deploymentId, target });
      const loaded = await this.load(desired, running);
      const kept = running !== undefined && loaded.pipeline.sharesSessionsWith(running.pipeline);
      phases.lap(kept ? 'head' : 'load');
      if (signal.aborted) {
        await loaded.pipeline.release();
        throw new Superseded();
      }
      const pointers = await plannedPointers;
      this.deps.runtime.install(loaded);
      tracker.setLastKnownGood(pointers.lastKnownGood ? { name: pointers.lastKnownGood.name, version: pointers.lastKnownGood.version } : this.deps.baseRef);
      phases.lap('switch');
      // Serving from here on, and reported so. What the next boot reads (the manifest, then the pointers) is written
      // before this deployment returns, so before the next desired state is taken; a crash in between boots the
      // previous version, and the desired state stored on receipt applies this one again.
      tracker.set({ state: 'active', deploymentId, target: null });
      this.logger.info(`${label}: active (${phases.describe()}${kept ? '; detector, landmark and embedder sessions kept' : ''})`);
      const stored = new PhaseClock();
      this.unstored = { model: loaded, signed: desired.manifest, pointers };
      await this.storage(() => this.persist(desired.manifest, pointers));
      this.unstored = undefined;
      stored.lap('stored');
      this.logger.info(`${label}: manifest and pointers stored (${stored.describe()})`);
      await this.collectGarbage();
      return { result: 'active', ref: target, changed: true };
    } catch (err) {
      if (err instanceof Superseded || (signal.aborted && !(err instanceof DeploymentError))) {
        this.logger.info(`${label}: superseded by a newer desired state`);
        return { result: 'superseded' };
      }
      const failure = err instanceof DeploymentError ? err : new DeploymentError('internal', (err as Error).message ?? String(err));
      this.logger.warn(`${label}: failed (${failure.code}): ${failure.message}`);
      tracker.set({ state: 'failed', deploymentId, target, failure: { code: failure.code, message: failure.message.slice(0, 1000) } });
      return { result: 'failed', code: failure.code, message: failure.message, transient: failure.transient };
    }
  }

  /** Checks that need no download; throws the refusal. */
  private refuse(desired: DesiredState): void {
    if (desired.deviceId !== this.deps.deviceId) {
      throw new DeploymentError('wrong_device', `the desired state is addressed to "${desired.deviceId}", this device is "${this.deps.deviceId}"`);
    }
    if (!this.deps.publicKey) throw new DeploymentError('signature_invalid', 'no signing public key is configured (EDGE_SIGNING_PUBLIC_KEY)');
    const verified = verifyDesiredState(desired, this.deps.publicKey);
    if (!verified.ok) {
      throw new DeploymentError(
        'signature_invalid',
        verified.reason === 'manifest_signature' ? 'the manifest signature does not verify' : 'the desired-state signature does not verify',
      );
    }
    const { manifest } = desired.manifest;
    const roles = new Set(manifest.files.map((file) => file.role));
    const missing = REQUIRED_ROLES.filter((role) => !roles.has(role));
    if (missing.length > 0) throw new DeploymentError('unsupported_manifest', `the bundle lacks ${missing.join(', ')}`);
    const running = this.deps.runtime.current?.ref;
    if (running && running.name === manifest.name && manifest.version < running.version && !desired.rollback) {
      throw new DeploymentError(
        'downgrade_refused',
        `${formatModelRef(manifest)} is lower than the running ${formatModelRef(running)} and the desired state does not say rollback`,
      );
    }
  }

  /**
   * Refuses a desired state older than the newest one accepted (counted as `stale`), else makes it the newest
   * one, on disk, before anything else happens. Runs after the signature verified, so only the cloud moves it.
   */
  private async admit(desired: DesiredState): Promise<void> {
    const { watermark, metrics } = this.deps;
    const freshness = watermark.check(desired);
    if (!freshness.fresh) {
      metrics.desiredRejected.inc({ reason: 'stale' });
      throw new DeploymentError('invalid_desired', freshness.reason);
    }
    await this.storage(() => watermark.accept(desired));
  }

  /** The same name, version and pipeline files as the model serving now. */
  private sameBundle(running: LoadedModel, desired: DesiredState): boolean {
    const { manifest } = desired.manifest;
    if (running.ref.name !== manifest.name || running.ref.version !== manifest.version) return false;
    if (running.origin === 'store') return true;
    const wanted = pipelineFiles(desired);
    return PIPELINE_ROLES.every((role) => wanted[role] === running.files[role]);
  }

  private async download(desired: DesiredState, signal: AbortSignal): Promise<void> {
    const { store, fetcher, metrics } = this.deps;
    const files = pipelineFiles(desired);
    const wanted = [...new Set(Object.values(files))];
    const stored = await Promise.all(wanted.map((sha256) => store.hasBlob(sha256)));
    for (const sha256 of wanted.filter((_, i) => !stored[i])) {
      const local = this.deps.baseFiles.get(sha256);
      if (local && (await store.importBlob(sha256, local))) {
        this.logger.info(`blob ${sha256.slice(0, 12)}… copied from the base models folder`);
        continue;
      }
      const location = desired.blobs.find((blob) => blob.sha256 === sha256);
      if (!location) throw new DeploymentError('invalid_desired', `no location for blob ${sha256}`);
      if (signal.aborted) throw new Superseded();
      if (sha256 === files.head && (await this.headFromDelta(sha256, location.size, signal))) continue;
      if (signal.aborted) throw new Superseded();
      try {
        // every byte received is counted as it arrives, also on an attempt that fails
        const fetched = await fetcher.fetch(location, store.blobFile(sha256), signal, (bytes) => metrics.blobBytes.inc(bytes));
        this.logger.info(
          `blob ${sha256.slice(0, 12)}… ${location.size} bytes stored${fetched.resumedFrom > 0 ? ` (resumed from ${fetched.resumedFrom})` : ''}`,
        );
      } catch (err) {
        if (signal.aborted) throw new Superseded();
        if (err instanceof BlobIntegrityError) throw new DeploymentError('checksum_mismatch', err.message);
        throw new DeploymentError('download_failed', `blob ${sha256}: ${(err as Error).message}`, true);
      }
    }
  }

  /**
   * Makes the new head from the running one and a delta of the identities that changed (head-delta in
   * @edgeloop/contracts), when the cloud has one for that pair. The rebuilt bytes are stored only when they hash
   * to `target`, the signed manifest's sha256; any failure (no delta, another base, a corrupt delta, a digest
   * mismatch) returns false and the caller downloads the whole blob.
   */
  private async headFromDelta(target: string, size: number, signal: AbortSignal): Promise<boolean> {
    const { store, fetcher, metrics } = this.deps;
    const base = this.deps.runtime.current?.files.head;
    if (!base || base === target) return false;
    const basePath = (await store.hasBlob(base)) ? store.blobFile(base) : this.deps.baseFiles.get(base);
    if (!basePath) return false;
    const short = `${target.slice(0, 12)}…`;
    try {
      // a delta starts from an int8 head or a labelled float32 one (an upload); any other head asks for none
      const baseBytes = await readFile(basePath);
      if (!readDeltaBase(baseBytes)) return false;
      const delta = await fetcher.fetchHeadDelta(target, base, signal, (bytes) => metrics.blobBytes.inc(bytes));
      if (!delta) return false;
      const rebuilt = applyHeadDelta(baseBytes, delta);
      const actual = createHash('sha256').update(rebuilt).digest('hex');
      if (actual !== target) {
        this.logger.warn(`head ${short}: the head rebuilt from a delta hashes to ${actual.slice(0, 12)}…, not the manifest's; downloading it whole`);
        return false;
      }
      await writeFileAtomic(store.blobFile(target), rebuilt);
      this.logger.info(`head ${short} rebuilt from head ${base.slice(0, 12)}… and a delta of ${delta.byteLength} bytes (the head has ${size})`);
      return true;
    } catch (err) {
      if (signal.aborted) throw new Superseded();
      this.logger.warn(`head ${short}: no usable delta from head ${base.slice(0, 12)}… (${(err as Error).message}); downloading it whole`);
      return false;
    }
  }

  /**
   * Re-hashes every blob the version needs (downloaded now or already stored), except those whose sessions
   * stay in memory from the running version (a head-only switch): their bytes were checked when they were
   * loaded, and the files on disk are hashed again at every boot before anything loads them.
   */
  private async verifyBlobs(desired: DesiredState, running: LoadedModel | undefined): Promise<void> {
    const files = pipelineFiles(desired);
    const kept = running && sharesBackbone(running, files) ? new Set(REQUIRED_ROLES.map((role) => files[role])) : new Set<string | undefined>();
    for (const [role, sha256] of Object.entries(files)) {
      if (kept.has(sha256)) continue;
      if (await this.deps.store.blobIntact(sha256)) continue;
      await this.deps.store.removeBlob(sha256);
      throw new DeploymentError('checksum_mismatch', `the stored ${role} blob does not hash to ${sha256}; removed, it will be downloaded again`, true);
    }
  }

  private async load(desired: DesiredState, running: LoadedModel | undefined): Promise<LoadedModel> {
    try {
      return await this.deps.loader.loadInstalled(desired.manifest, running);
    } catch (err) {
      throw new DeploymentError('load_failed', (err as Error).message);
    }
  }

  /**
   * The pointers after a switch from `previous` to `target`: active on the new version, last-known-good on the
   * version that served until now (when it came from the store), or kept as it is when the same version is
   * loaded again. Read before the switch; written by `persist` after it.
   */
  private async planPointers(target: ModelVersionRef, previous: LoadedModel | undefined, deploymentId: string): Promise<PointerPlan> {
    const { store } = this.deps;
    const now = Date.now();
    const active: VersionPointer = { ...target, deploymentId, at: now };
    let lastKnownGood: VersionPointer | null = null;
    if (previous && previous.origin === 'store' && !sameRef(previous.ref, target)) {
      const activePointer = await store.readPointer('active');
      const previousDeployment = activePointer && sameRef(activePointer, previous.ref) ? activePointer.deploymentId : null;
      lastKnownGood = { ...previous.ref, deploymentId: previousDeployment, at: now };
    } else if (previous && previous.origin === 'store') {
      lastKnownGood = (await store.readPointer('last-known-good')) ?? null;
    }
    return { active, lastKnownGood };
  }

  /** Records the version (unless the same signed manifest is stored already), then moves both pointers. */
  private async persist(signed: SignedManifest, pointers: PointerPlan): Promise<void> {
    const { store } = this.deps;
    if (!(await store.hasSavedVersion(signed))) await store.saveVersion(signed);
    await store.writePointers(pointers.active, pointers.lastKnownGood);
  }

  /**
   * The running version again (a redelivery, or the retry of a switch whose manifest or pointers could not be
   * written): stores what that switch left unwritten, else keeps the new deployment id in the active pointer
   * (reported again after a restart).
   */
  private async recordDeployment(running: LoadedModel, deploymentId: string): Promise<void> {
    if (running.origin !== 'store') return;
    const unstored = this.unstored;
    if (unstored && unstored.model === running) {
      await this.persist(unstored.signed, { ...unstored.pointers, active: { ...unstored.pointers.active, deploymentId } });
      this.unstored = undefined;
      return;
    }
    const active = await this.deps.store.readPointer('active');
    if (!active || !sameRef(active, running.ref) || active.deploymentId === deploymentId) return;
    const lastKnownGood = (await this.deps.store.readPointer('last-known-good')) ?? null;
    await this.deps.store.writePointers({ ...active, deploymentId, at: Date.now() }, lastKnownGood);
  }

  /** Removes what neither the active nor the last-known-good version references. */
  async collectGarbage(): Promise<void> {
    const { store } = this.deps;
    const keep = [await store.readPointer('active'), await store.readPointer('last-known-good')].filter((p) => p !== undefined);
    try {
      const gc = await store.collectGarbage({ versions: keep, blobs: [] });
      if (gc.removedBlobs + gc.removedPartials + gc.removedVersions > 0) {
        this.logger.info(`garbage collected ${gc.removedBlobs} blobs, ${gc.removedPartials} partial downloads, ${gc.removedVersions} versions (${gc.freedBytes} bytes)`);
      }
    } catch (err) {
      this.logger.warn(`garbage collection: ${(err as Error).message}`);
    }
  }

  private async storage<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw new DeploymentError('storage_failed', (err as Error).message, true);
    }
  }
}

/** The sha256 of each file the pipeline loads, by role. */
export function pipelineFiles(desired: DesiredState): Partial<Record<ModelFileRole, string>> {
  const files: Partial<Record<ModelFileRole, string>> = {};
  for (const file of desired.manifest.manifest.files) {
    if ((PIPELINE_ROLES as readonly string[]).includes(file.role)) files[file.role] = file.sha256;
  }
  return files;
}

/** Milliseconds of each phase of one activation, for its log line. */
class PhaseClock {
  private last = performance.now();
  private readonly laps: [string, number][] = [];

  lap(phase: string): void {
    const now = performance.now();
    this.laps.push([phase, now - this.last]);
    this.last = now;
  }

  describe(): string {
    return this.laps.map(([phase, ms]) => `${phase} ${ms.toFixed(1)} ms`).join(', ');
  }
}

function sameRef(a: ModelVersionRef, b: ModelVersionRef): boolean {
  return a.name === b.name && a.version === b.version;
}
