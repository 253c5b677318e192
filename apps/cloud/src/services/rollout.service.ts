import { Injectable, Logger } from '@nestjs/common';
import {
  blobPath,
  MESSAGE_VERSION,
  type DeploymentResponse,
  type DesiredState,
  type DeviceSummary,
  type ModelVersionRef,
  type ParsedCreateDeploymentRequest,
  type UnsignedDesiredState,
} from '@edgeloop/contracts';
import { randomBytes } from 'node:crypto';
import { CloudConfig } from '../config/cloud.config';
import { SqlDatabase, type SqlExecutor } from '../database/sql-database';
import { BadRequestError, ConflictError, NotFoundError } from '../errors/domain.errors';
import { DeviceChannel } from '../mqtt/device-channel';
import { RolloutQueue } from '../queues/rollout.queue';
import { AuditRepository } from '../repositories/audit.repository';
import { DeploymentDeviceRecord, DeploymentRecord, DeploymentRepository, type StoredDesiredState } from '../repositories/deployment.repository';
import { DeviceRepository } from '../repositories/device.repository';
import { ManifestSigner } from '../repositories/manifest-signer';
import { ModelRepository, VersionRecord } from '../repositories/model.repository';
import { DomainEvents } from '../events/domain-events';
import { RegistryService } from './registry.service';

interface Publication {
  deviceId: string;
  desired: DesiredState | null;
}

/** Desired states the broker has not acknowledged yet, at most this many at once (pipelined, not one by one). */
const PUBLISH_WINDOW = 512;
/**
 * A publisher's hold on the devices it took to tell (`DeploymentRepository.claimUnsent`): after this long without
 * their PUBACK — the publisher died, or lost the broker — the next tick takes them again. A device told twice
 * gets the same retained desired state twice, which it ignores.
 */
const PUBLISH_LEASE_SECONDS = 30;
/**
 * Devices one tick takes to publish: a larger wave is spread over the ticks that follow (every
 * EDGELOOP_ROLLOUT_TICK_MS, several at once on a worker and on any worker replica), and no publisher holds its
 * devices for long enough to approach the lease.
 */
const PUBLISH_CLAIM = 2500;

/** The parts of a desired state that every device of one model version shares: built once per version. */
type SharedDesiredParts = Pick<UnsignedDesiredState, 'model' | 'manifest' | 'blobs'>;

/**
 * Rollouts: a deployment targets devices (ids, group or label selector) in waves — one wave for `all`;
 * for `canary` a first wave of `percent` of the devices, then waves of `batchSize`. Each wave is sent as
 * signed, retained desired states; it passes its health gate when its devices report `active` on the new
 * version, no more than `maxFailurePercent` fail, and (optionally) each keeps `minFps`, for
 * `observeSeconds`. A failed gate puts every touched device back on its previous version when
 * `autoRollback` is set. All state is in SQL; a BullMQ job scheduler ticks `advance`.
 *
 * A request is answered once the deployment, its devices and their signed desired states are committed; the
 * devices stay `pending` until a tick has published their desired state and the broker acknowledged it, then
 * they are `sent`. A tick that dies mid-publish leaves the rest `pending`, and a later tick (this replica after
 * a restart, or another) publishes them: nothing is shown as sent that was not.
 */
@Injectable()
export class RolloutService {
  private readonly logger = new Logger(RolloutService.name);
  /** The last issuedAt signed here per device: its next desired state gets a strictly later one (edges refuse replays by it). */
  private readonly lastIssuedAt = new Map<string, number>();

  constructor(
    private readonly config: CloudConfig,
    private readonly db: SqlDatabase,
    private readonly deployments: DeploymentRepository,
    private readonly devices: DeviceRepository,
    private readonly models: ModelRepository,
    private readonly registry: RegistryService,
    private readonly signer: ManifestSigner,
    private readonly channel: DeviceChannel,
    private readonly queue: RolloutQueue,
    private readonly audit: AuditRepository,
    private readonly events: DomainEvents,
  ) {}

  async create(request: ParsedCreateDeploymentRequest, actor: string | null): Promise<DeploymentResponse> {
    const name = request.model.name;
    const version = request.model.kind === 'version' ? request.model.version : await this.registry.resolve(name, request.model.alias);
    const record = await this.models.getVersion(name, version);
    if (!record) throw new NotFoundError(`version ${name}@${version}`);
    const id = `dep_${randomBytes(8).toString('hex')}`;
    const firstWave = await this.db.transaction(async (tx) => {
      const targets = await this.devices.resolveTarget(request.target, tx);
      if (targets.length === 0) throw new BadRequestError('no_target_devices', 'the target matches no enabled device');
      const waves = planWaves(targets, request.strategy);
      const summaries = await this.devices.getMany(targets, tx);
      const previous = new Map([...summaries.values()].map((s) => [s.id, runningVersion(s)]));
      await this.deployments.insert(
        tx,
        { id, model: { name, version }, target: request.target, strategy: request.strategy, createdBy: actor },
        targets.map((deviceId) => ({ deviceId, wave: waves.get(deviceId)!, previous: previous.get(deviceId) ?? null })),
      );
      await this.audit.record({ actor, action: 'deployment.create', subject: id, details: { model: `${name}@${version}`, devices: targets.length } }, tx);
      return this.prepareWave(tx, id, record, 0);
    });
    // the scheduler's first tick runs at once and publishes the first wave
    await this.queue.schedule(id);
    await this.events.emit('deployment.progress', { deploymentId: id, status: 'in_progress' });
    this.logger.log(`deployment ${id}: ${name}@${version} to ${firstWave} device(s) in the first wave`);
    return this.get(id);
  }

  async get(id: string): Promise<DeploymentResponse> {
    const deployment = await this.deployments.get(id);
    if (!deployment) throw new NotFoundError(`deployment ${id}`);
    return this.toResponse(deployment);
  }

  async list(): Promise<DeploymentResponse[]> {
    const all = await this.deployments.list();
    return Promise.all(all.map((d) => this.toResponse(d)));
  }

  /**
   * One step of the state machine; safe to call any time, from any replica. It also publishes the desired
   * states of the due wave's devices that no publisher holds (after the transaction, pipelined), and marks
   * each `sent` as the broker acknowledges it.
   */
  async advance(id: string): Promise<void> {
    const { publications, unsent, model, done, finishedEarlier } = await this.db.transaction(async (tx) => {
      const deployment = await this.deployments.get(id, tx);
      // a tick that arrives after the deployment finished (another tick, another replica) only unschedules:
      // the outcome was announced once, by the tick that finished it
      if (!deployment || !['in_progress', 'pending'].includes(deployment.status))
        return { publications: [], unsent: [], model: null, done: true, finishedEarlier: true };
      await this.observeDevices(tx, deployment);
      const stepped = await this.step(tx, deployment);
      const claimed = stepped.done ? [] : await this.deployments.claimUnsent(tx, id, PUBLISH_LEASE_SECONDS, PUBLISH_CLAIM);
      const superseded = claimed.filter((c) => c.desired === null).map((c) => c.deviceId);
      await this.deployments.setDevicePhases(tx, id, superseded, 'failed', 'superseded: a later deployment replaced its desired state before it was sent');
      const unsent = claimed.flatMap((c) => (c.desired ? [c.desired] : []));
      return { ...stepped, unsent, model: deployment.model, finishedEarlier: false };
    });
    await this.publish(publications);
    if (model && unsent.length > 0) await this.publishUnsent(id, model, unsent);
    if (done) await this.queue.unschedule(id);
    if (finishedEarlier) return;
    if (done) await this.announce(id);
    if (done || publications.length > 0 || unsent.length > 0)
      await this.events.emit('deployment.progress', { deploymentId: id, status: done ? 'finished' : 'in_progress' });
  }

  /** Publishes desired states this tick took, pipelined; each acknowledged one becomes `sent`, the others wait for the lease. */
  private async publishUnsent(id: string, model: ModelVersionRef, unsent: StoredDesiredState[]): Promise<void> {
    const record = await this.models.getVersion(model.name, model.version);
    if (!record) throw new Error(`deployment ${id}: version ${model.name}@${model.version} is gone`);
    const shared = sharedDesiredParts(record);
    const marks: Array<Promise<unknown>> = [];
    const failed = await this.publish(
      unsent.map((stored) => ({ deviceId: stored.deviceId, desired: withSharedParts(stored, shared) })),
      (deviceId) => marks.push(this.deployments.markSent(id, deviceId)),
    );
    const results = await Promise.allSettled(marks);
    const unmarked = results.filter((r) => r.status === 'rejected');
    if (unmarked.length > 0) {
      this.logger.warn(`deployment ${id}: ${unmarked.length} device(s) told but not marked sent (${(unmarked[0] as PromiseRejectedResult).reason}); published again after the lease`);
    }
    if (failed > 0) this.logger.warn(`deployment ${id}: ${failed} desired state(s) not acknowledged; published again after ${PUBLISH_LEASE_SECONDS} s`);
  }

  /** Emits the outcome of a finished deployment as a webhook event. */
  private async announce(id: string): Promise<void> {
    const deployment = await this.deployments.get(id);
    if (!deployment) return;
    const devices = await this.deployments.devices(id);
    const counts = {
      total: devices.length,
      succeeded: devices.filter((d) => d.phase === 'active').length,
      failed: devices.filter((d) => d.phase === 'failed' || (d.phase === 'rolled_back' && d.reason !== null)).length,
    };
    const outcome = { deploymentId: id, model: deployment.model, devices: counts };
    if (deployment.status === 'completed') await this.events.emit('deployment.completed', outcome);
    else if (deployment.status === 'failed') {
      await this.events.emit('deployment.failed', { ...outcome, reason: deployment.reason ?? 'failed' });
      if (devices.some((d) => d.phase === 'rolled_back')) {
        await this.events.emit('deployment.rolled_back', { ...outcome, reason: deployment.reason ?? 'health gate failed', automatic: true });
      }
    } else if (deployment.status === 'rolled_back') {
      await this.events.emit('deployment.rolled_back', { ...outcome, reason: deployment.reason ?? 'rolled back on request', automatic: false });
    }
  }

  /** Manual rollback: every device this deployment touched goes back to its previous version. */
  async rollback(id: string, reason: string | undefined, actor: string | null): Promise<DeploymentResponse> {
    const publications = await this.db.transaction(async (tx) => {
      const deployment = await this.deployments.get(id, tx);
      if (!deployment) throw new NotFoundError(`deployment ${id}`);
      if (deployment.status === 'rolled_back') throw new ConflictError(`deployment ${id} is already rolled back`);
      const devices = await this.deployments.devices(id, tx);
      const out = await this.rollBackDevices(tx, deployment, devices);
      await this.deployments.update(tx, id, { status: 'rolled_back', reason: reason ?? 'rolled back on request' });
      await this.audit.record({ actor, action: 'deployment.rollback', subject: id, details: { reason: reason ?? null } }, tx);
      return out;
    });
    await this.publish(publications);
    await this.queue.unschedule(id);
    await this.announce(id);
    await this.events.emit('deployment.progress', { deploymentId: id, status: 'rolled_back' });
    return this.get(id);
  }

  /** After a restart: make sure every deployment in progress ticks, and republish retained desired states. */
  async resume(): Promise<void> {
    for (const id of await this.deployments.listActiveIds()) await this.queue.schedule(id);
    const stored = await this.deployments.allDesired();
    const shared = new Map<string, SharedDesiredParts | null>();
    const publications: Publication[] = [];
    for (const desired of stored) {
      const key = `${desired.model.name}@${desired.model.version}`;
      if (!shared.has(key)) {
        const record = desired.manifest ? undefined : await this.models.getVersion(desired.model.name, desired.model.version);
        shared.set(key, record ? sharedDesiredParts(record) : null);
      }
      const parts = shared.get(key);
      if (desired.manifest && desired.blobs) publications.push({ deviceId: desired.deviceId, desired: desired as DesiredState });
      else if (parts) publications.push({ deviceId: desired.deviceId, desired: withSharedParts(desired, parts) });
      else this.logger.error(`the desired state of ${desired.deviceId} names ${key}, which is gone: not republished`);
    }
    await this.publish(publications);
    if (publications.length > 0) this.logger.log(`republished ${publications.length} desired state(s)`);
  }

  /**
   * Reads the reported states of the deployment's sent and active devices into their rollout phases, in SQL:
   * one statement moves every device that reports `active` on the target version, one query returns the few
   * that may fail (a failure reported for this deployment, the wave timeout passed, an active device on
   * another version). A tick at 5,000 devices thus reads no row it does not change.
   */
  private async observeDevices(tx: SqlExecutor, deployment: DeploymentRecord): Promise<void> {
    const timeoutMs = this.config.rolloutWaveTimeoutSeconds * 1000;
    const now = Date.now();
    await this.deployments.markActive(tx, deployment.id, deployment.model);
    const candidates = await this.deployments.failureCandidates(tx, deployment.id, deployment.model, new Date(now - timeoutMs));
    const failed = new Map<string, string>();
    for (const device of candidates) {
      const reported = device.reported;
      const sentAt = device.desiredAt?.getTime() ?? 0;
      const timedOut = device.phase === 'sent' && sentAt > 0 && now - sentAt > timeoutMs;
      if (!reported) {
        if (timedOut) failed.set(device.deviceId, `timeout: the device never reported within ${this.config.rolloutWaveTimeoutSeconds} s`);
        continue;
      }
      const runsTarget = reported.running?.name === deployment.model.name && reported.running.version === deployment.model.version;
      if (reported.state === 'failed' && reported.deploymentId === deployment.id && reported.ts >= sentAt - 1000) {
        failed.set(device.deviceId, `${reported.failure?.code}: ${reported.failure?.message ?? ''}`.slice(0, 500));
      } else if (reported.state === 'active' && runsTarget) {
        continue;
      } else if (timedOut) {
        failed.set(device.deviceId, `timeout: no active report within ${this.config.rolloutWaveTimeoutSeconds} s (last state ${reported.state})`);
      } else if (device.phase === 'active' && !runsTarget) {
        failed.set(device.deviceId, 'no longer runs the deployed version');
      }
    }
    for (const [reason, ids] of groupByValue(failed)) await this.deployments.setDevicePhases(tx, deployment.id, ids, 'failed', reason);
  }

  private async step(tx: SqlExecutor, deployment: DeploymentRecord): Promise<{ publications: Publication[]; done: boolean }> {
    const wave = await this.deployments.waveProgress(tx, deployment.id, deployment.batchIndex);
    const settled = wave.active + wave.failed === wave.total;
    const strategy = deployment.strategy;

    if (strategy.type === 'all') {
      if (!settled) return { publications: [], done: false };
      if (wave.failed > 0) {
        await this.deployments.update(tx, deployment.id, { status: 'failed', reason: `${wave.failed} of ${wave.total} device(s) failed: ${wave.firstFailure}` });
        return { publications: [], done: true };
      }
      await this.deployments.update(tx, deployment.id, { status: 'completed', reason: null });
      return { publications: [], done: true };
    }

    const failurePercent = (wave.failed / wave.total) * 100;
    if (failurePercent > strategy.maxFailurePercent) {
      return this.failGate(tx, deployment, `health gate of batch ${deployment.batchIndex}: ${wave.failed} of ${wave.total} device(s) failed (${wave.firstFailure})`);
    }
    if (!settled) return { publications: [], done: false };
    if (!deployment.observeUntil) {
      await this.deployments.update(tx, deployment.id, { observeUntil: new Date(Date.now() + strategy.observeSeconds * 1000) });
      return { publications: [], done: false };
    }
    if (strategy.minFps !== undefined) {
      const active = (await this.deployments.devices(deployment.id, tx)).filter((d) => d.wave === deployment.batchIndex && d.phase === 'active');
      const summaries = await this.devices.getMany(active.map((d) => d.deviceId), tx);
      for (const device of active) {
        const fps = summaries.get(device.deviceId)?.reported?.health.fps ?? 0;
        if (fps < strategy.minFps) {
          return this.failGate(tx, deployment, `health gate of batch ${deployment.batchIndex}: ${device.deviceId} runs at ${fps.toFixed(1)} fps, below ${strategy.minFps}`);
        }
      }
    }
    if (Date.now() < deployment.observeUntil.getTime()) return { publications: [], done: false };
    if (deployment.batchIndex >= wave.lastWave) {
      await this.deployments.update(tx, deployment.id, { status: 'completed', reason: null, observeUntil: null });
      return { publications: [], done: true };
    }
    const next = deployment.batchIndex + 1;
    await this.deployments.update(tx, deployment.id, { batchIndex: next, observeUntil: null });
    const record = (await this.models.getVersion(deployment.model.name, deployment.model.version, tx))!;
    // published by this tick, after the transaction (advance → claimUnsent)
    await this.prepareWave(tx, deployment.id, record, next);
    return { publications: [], done: false };
  }

  private async failGate(tx: SqlExecutor, deployment: DeploymentRecord, reason: string): Promise<{ publications: Publication[]; done: boolean }> {
    const rollback = deployment.strategy.type === 'canary' && deployment.strategy.autoRollback;
    const publications = rollback ? await this.rollBackDevices(tx, deployment, await this.deployments.devices(deployment.id, tx)) : [];
    await this.deployments.update(tx, deployment.id, { status: 'failed', reason: rollback ? `${reason}; rolled back` : reason, observeUntil: null });
    this.logger.warn(`deployment ${deployment.id} failed: ${reason}${rollback ? '; rolling back' : ''}`);
    return { publications, done: true };
  }

  /**
   * Signs and stores the desired state of wave `wave`'s devices in this transaction (set-based); they stay
   * `pending` until a tick has published them. Returns how many devices the wave has.
   */
  private async prepareWave(tx: SqlExecutor, id: string, record: VersionRecord, wave: number): Promise<number> {
    const devices = (await this.deployments.devices(id, tx)).filter((d) => d.wave === wave);
    const shared = sharedDesiredParts(record);
    await this.deployments.saveDesiredStates(
      tx,
      devices.map((device) => this.desiredState(device.deviceId, id, shared, false)),
    );
    return devices.length;
  }

  /** Every device the deployment touched goes back to its previous version (or has its desired state cleared). */
  private async rollBackDevices(tx: SqlExecutor, deployment: DeploymentRecord, devices: DeploymentDeviceRecord[]): Promise<Publication[]> {
    const publications: Publication[] = [];
    for (const device of devices.filter((d) => d.phase !== 'pending' && d.phase !== 'rolled_back')) {
      if (device.previous) {
        const record = await this.models.getVersion(device.previous.name, device.previous.version, tx);
        if (record) {
          const desired = this.desiredState(device.deviceId, deployment.id, sharedDesiredParts(record), true);
          await this.deployments.saveDesired(tx, desired);
          publications.push({ deviceId: device.deviceId, desired });
        }
      } else {
        await this.deployments.clearDesired(tx, device.deviceId);
        publications.push({ deviceId: device.deviceId, desired: null });
      }
      await this.deployments.setDevicePhase(tx, deployment.id, device.deviceId, 'rolled_back', device.reason);
    }
    return publications;
  }

  private desiredState(deviceId: string, deploymentId: string, shared: SharedDesiredParts, rollback: boolean): DesiredState {
    const unsigned: UnsignedDesiredState = {
      v: MESSAGE_VERSION,
      deviceId,
      deploymentId,
      ...shared,
      rollback,
      issuedAt: Math.max(Date.now(), (this.lastIssuedAt.get(deviceId) ?? 0) + 1),
    };
    this.lastIssuedAt.set(deviceId, unsigned.issuedAt);
    return { ...unsigned, signature: this.signer.sign(unsigned) };
  }

  /**
   * Publishes desired states, each retained with QoS 1, pipelined: up to `PUBLISH_WINDOW` wait for their PUBACK at
   * once (mqtt.js keeps every outstanding QoS 1 publish until its PUBACK). `acknowledged` hears each one the
   * broker took; resolves with how many it did not.
   */
  private async publish(publications: Publication[], acknowledged?: (deviceId: string) => void): Promise<number> {
    let next = 0;
    let failed = 0;
    const worker = async () => {
      while (next < publications.length) {
        const { deviceId, desired } = publications[next++];
        try {
          await this.channel.publishDesired(deviceId, desired);
          acknowledged?.(deviceId);
        } catch (err) {
          // the desired state is in SQL: a tick publishes it again after the lease, and every boot republishes it
          failed++;
          if (failed <= 3) this.logger.error(`publishing the desired state of ${deviceId} failed: ${(err as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PUBLISH_WINDOW, publications.length) }, worker));
    return failed;
  }

  private async toResponse(deployment: DeploymentRecord): Promise<DeploymentResponse> {
    const devices = await this.deployments.devicesWithReports(deployment.id);
    return {
      id: deployment.id,
      model: deployment.model,
      target: deployment.target,
      strategy: deployment.strategy,
      status: deployment.status,
      reason: deployment.reason,
      devices: devices.map((d) => ({
        deviceId: d.deviceId,
        batch: d.wave,
        phase: d.phase,
        previous: d.previous,
        state: d.reported?.state ?? null,
        failure: d.reported?.failure ?? null,
        updatedAt: d.updatedAt,
      })),
      createdAt: deployment.createdAt,
      updatedAt: deployment.updatedAt,
    };
  }
}

/**
 * Wave of each device: 0 for everyone with `all`; for a canary, first the largest number of devices whose
 * share does not exceed `percent` (at least one: 34% of 3 devices is 1), then batches of `batchSize`.
 */
export function planWaves(deviceIds: string[], strategy: ParsedCreateDeploymentRequest['strategy']): Map<string, number> {
  const waves = new Map<string, number>();
  if (strategy.type === 'all') {
    for (const id of deviceIds) waves.set(id, 0);
    return waves;
  }
  const canary = Math.min(deviceIds.length, Math.max(1, Math.floor((strategy.percent * deviceIds.length) / 100 + 1e-9)));
  deviceIds.forEach((id, index) => {
    waves.set(id, index < canary ? 0 : 1 + Math.floor((index - canary) / strategy.batchSize));
  });
  return waves;
}

function sharedDesiredParts(record: VersionRecord): SharedDesiredParts {
  return {
    model: { name: record.name, version: record.version },
    manifest: { manifest: record.manifest, signature: record.signature },
    blobs: uniqueBy(record.manifest.files, (f) => f.sha256).map((f) => ({ sha256: f.sha256, size: f.size, url: blobPath(f.sha256) })),
  };
}

/** A stored desired state made whole again: the version's shared parts put back (rows of older versions hold them already). */
function withSharedParts(stored: StoredDesiredState, shared: SharedDesiredParts): DesiredState {
  return { ...stored, manifest: stored.manifest ?? shared.manifest, blobs: stored.blobs ?? shared.blobs };
}

function runningVersion(device: DeviceSummary): ModelVersionRef | null {
  return device.reported?.running ?? null;
}

/** Keys grouped by their value (devices by failure reason: one statement per reason). */
function groupByValue(map: Map<string, string>): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const [key, value] of map) groups.set(value, [...(groups.get(value) ?? []), key]);
  return groups;
}

function uniqueBy<T>(items: T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => (seen.has(key(item)) ? false : (seen.add(key(item)), true)));
}
