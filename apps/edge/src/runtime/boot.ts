import { formatModelRef, type ModelVersionRef } from '@edgeloop/contracts';
import type { DeviceStateTracker } from '../agent/device-state';
import { Logger } from '../logger';
import type { ModelStore, VersionPointer } from '../store/model-store';
import type { ModelRuntime } from './model-runtime';
import { PIPELINE_ROLES, type LoadedModel, type PipelineLoader } from './pipeline-loader';

export interface BootModel {
  model: LoadedModel;
  active: VersionPointer | undefined;
  lastKnownGood: VersionPointer | undefined;
  /** Set when the active version could not be loaded and a fallback serves instead. */
  failure: { target: ModelVersionRef; deploymentId: string | null; message: string } | undefined;
}

/**
 * Picks what serves frames at boot, with no network: the active version from the store, else the
 * last-known-good one, else the base models folder. A stored version is loaded only if every blob still
 * hashes to its name (a corrupt blob is removed, so a later desired state downloads it again).
 */
export async function loadAtBoot(store: ModelStore, loader: PipelineLoader): Promise<BootModel> {
  const logger = new Logger('Boot');
  const active = await store.readPointer('active');
  const lastKnownGood = await store.readPointer('last-known-good');
  let failure: BootModel['failure'];
  for (const pointer of [active, lastKnownGood]) {
    if (!pointer) continue;
    const ref = { name: pointer.name, version: pointer.version };
    const problem = await tryLoad(store, loader, ref).then(
      (model) => ({ model }),
      (err: unknown) => ({ error: (err as Error).message }),
    );
    if ('model' in problem) {
      logger.info(`serving ${formatModelRef(ref)} from the store${pointer === active ? '' : ' (last known good)'}`);
      return { model: problem.model, active, lastKnownGood, failure };
    }
    logger.warn(`cannot load ${formatModelRef(ref)}: ${problem.error}`);
    failure ??= { target: ref, deploymentId: pointer.deploymentId, message: `${formatModelRef(ref)} did not load at boot: ${problem.error}` };
  }
  const model = await loader.loadBase();
  logger.info(`serving ${formatModelRef(model.ref)} from the base models folder`);
  return { model, active, lastKnownGood, failure };
}

async function tryLoad(store: ModelStore, loader: PipelineLoader, ref: ModelVersionRef): Promise<LoadedModel> {
  const signed = await store.readVersion(ref);
  if (!signed) throw new Error('its manifest is not in the store');
  for (const file of signed.manifest.files) {
    if (!(PIPELINE_ROLES as readonly string[]).includes(file.role)) continue;
    if (!(await store.blobIntact(file.sha256))) {
      await store.removeBlob(file.sha256);
      throw new Error(`the ${file.role} blob ${file.sha256} is missing or corrupt`);
    }
  }
  return loader.loadInstalled(signed);
}

/** What the device falls back to if what it serves cannot start: last-known-good, else the base folder. */
export function fallbackFor(model: LoadedModel, lastKnownGood: VersionPointer | undefined, base: ModelVersionRef): ModelVersionRef | null {
  if (model.origin === 'base') return null;
  if (lastKnownGood && (lastKnownGood.name !== model.ref.name || lastKnownGood.version !== model.ref.version)) {
    return { name: lastKnownGood.name, version: lastKnownGood.version };
  }
  return base;
}

/**
 * Starts serving with no network: installs what `loadAtBoot` picked, and tells the device state what it runs
 * (`active` from the store, or `failed` when the active version did not load and a fallback serves) and what it
 * would fall back to. Returns the model served and the base bundle, whose files a deployment may reuse.
 */
export async function serveAtBoot(
  store: ModelStore,
  loader: PipelineLoader,
  runtime: ModelRuntime,
  tracker: DeviceStateTracker,
): Promise<{ model: LoadedModel; base: { ref: ModelVersionRef; files: Map<string, string> } }> {
  const boot = await loadAtBoot(store, loader);
  runtime.install(boot.model);
  const base = await loader.describeBase();
  tracker.setLastKnownGood(fallbackFor(boot.model, boot.lastKnownGood, base.ref));
  if (boot.failure) {
    const { target, deploymentId, message } = boot.failure;
    tracker.set({ state: 'failed', target, deploymentId, failure: { code: 'load_failed', message } });
  } else if (boot.model.origin === 'store') {
    tracker.set({ state: 'active', target: null, deploymentId: boot.active?.deploymentId ?? null });
  }
  return { model: boot.model, base };
}
