import { Injectable } from '@nestjs/common';
import type { DeploymentStatus, DeploymentStrategy, DeploymentTarget, DesiredState, DeviceRolloutPhase, ModelVersionRef, ReportedState } from '@edgeloop/contracts';
import { SqlDatabase, type SqlExecutor } from '../database/sql-database';
import { iso, json } from './model.repository';
import { WriteBatcher } from './write-batcher';

/**
 * A desired state as kept in `device_desired.payload`: without the signed manifest and the blob list, which
 * every device of one model version shares and which are put back from the version's record when it is
 * published (`RolloutService.fromStored`). Rows written before this was so hold the whole state; both read.
 */
export type StoredDesiredState = Pick<DesiredState, 'v' | 'deviceId' | 'deploymentId' | 'model' | 'rollback' | 'issuedAt' | 'signature'> &
  Partial<Pick<DesiredState, 'manifest' | 'blobs'>>;

export interface DeploymentRecord {
  id: string;
  model: ModelVersionRef;
  target: DeploymentTarget;
  strategy: DeploymentStrategy;
  status: DeploymentStatus;
  batchIndex: number;
  observeUntil: Date | null;
  reason: string | null;
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface DeploymentDeviceRecord {
  deviceId: string;
  wave: number;
  previous: ModelVersionRef | null;
  phase: DeviceRolloutPhase;
  reason: string | null;
  desiredAt: Date | null;
  updatedAt: string;
}

interface DeploymentRow {
  id: string;
  model_name: string;
  model_version: number;
  target: DeploymentTarget | string;
  strategy: DeploymentStrategy | string;
  status: DeploymentStatus;
  batch_index: number;
  observe_until: Date | string | null;
  reason: string | null;
  created_by: string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

interface DeviceRow {
  device_id: string;
  wave: number;
  previous_name: string | null;
  previous_version: number | null;
  state: DeviceRolloutPhase;
  reason: string | null;
  desired_at: Date | string | null;
  updated_at: Date | string;
}

/** One wave of a deployment at a glance. */
export interface WaveProgress {
  total: number;
  active: number;
  failed: number;
  lastWave: number;
  /** Reason of the wave's first failed device (by id), if any. */
  firstFailure: string | null;
}

const ACTIVE_STATUSES: DeploymentStatus[] = ['pending', 'in_progress', 'rolling_back'];

/** Deployments, their per-device progress, and each device's current desired state, in SQL. */
@Injectable()
export class DeploymentRepository {
  /** Devices whose desired state the broker acknowledged, moved to `sent` a batch at a time (group commit). */
  private readonly sentWrites = new WriteBatcher<{ deploymentId: string; deviceId: string }, boolean>(
    (items) => this.writeSent(items),
    (item) => `${item.deploymentId}/${item.deviceId}`,
  );

  constructor(private readonly db: SqlDatabase) {}

  async insert(
    tx: SqlExecutor,
    deployment: Pick<DeploymentRecord, 'id' | 'model' | 'target' | 'strategy' | 'createdBy'>,
    devices: Array<{ deviceId: string; wave: number; previous: ModelVersionRef | null }>,
  ): Promise<void> {
    await tx.query(
      `insert into deployments (id, model_name, model_version, target, strategy, status, phase, created_by)
       values ($1, $2, $3, $4, $5, 'in_progress', 'waves', $6)`,
      [deployment.id, deployment.model.name, deployment.model.version, JSON.stringify(deployment.target), JSON.stringify(deployment.strategy), deployment.createdBy],
    );
    // one statement for every device (set-based: a thousand devices are one insert, not a thousand)
    await tx.query(
      `insert into deployment_devices (deployment_id, device_id, wave, previous_name, previous_version)
       select $1, d.device_id, d.wave, d.previous_name, d.previous_version
         from unnest($2::text[], $3::int[], $4::text[], $5::int[]) as d(device_id, wave, previous_name, previous_version)`,
      [
        deployment.id,
        devices.map((d) => d.deviceId),
        devices.map((d) => d.wave),
        devices.map((d) => d.previous?.name ?? null),
        devices.map((d) => d.previous?.version ?? null),
      ],
    );
  }

  /** Reads a deployment; with `tx`, locks its row for the rest of the transaction (one advancer at a time). */
  async get(id: string, tx?: SqlExecutor): Promise<DeploymentRecord | undefined> {
    const rows = await (tx ?? this.db).query<DeploymentRow>(`select * from deployments where id = $1${tx ? ' for update' : ''}`, [id]);
    return rows[0] ? toDeployment(rows[0]) : undefined;
  }

  async list(limit = 100): Promise<DeploymentRecord[]> {
    const rows = await this.db.query<DeploymentRow>('select * from deployments order by created_at desc limit $1', [limit]);
    return rows.map(toDeployment);
  }

  async listActiveIds(): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>('select id from deployments where status = any($1::text[])', [ACTIVE_STATUSES]);
    return rows.map((r) => r.id);
  }

  async devices(id: string, tx: SqlExecutor = this.db): Promise<DeploymentDeviceRecord[]> {
    const rows = await tx.query<DeviceRow>('select * from deployment_devices where deployment_id = $1 order by wave, device_id', [id]);
    return rows.map(toDevice);
  }

  /** The deployment's devices with the state and failure each last reported, in one statement (for answers). */
  async devicesWithReports(id: string): Promise<Array<DeploymentDeviceRecord & { reported: Pick<ReportedState, 'state' | 'failure'> | null }>> {
    const rows = await this.db.query<DeviceRow & { reported: Pick<ReportedState, 'state' | 'failure'> | string | null }>(
      `select dd.*, case when s.reported is null then null
                         else jsonb_build_object('state', s.reported->'state', 'failure', s.reported->'failure') end as reported
         from deployment_devices dd left join device_state s on s.device_id = dd.device_id
        where dd.deployment_id = $1 order by dd.wave, dd.device_id`,
      [id],
    );
    return rows.map((r) => ({ ...toDevice(r), reported: json(r.reported) as Pick<ReportedState, 'state' | 'failure'> | null }));
  }

  async update(
    tx: SqlExecutor,
    id: string,
    patch: { status?: DeploymentStatus; batchIndex?: number; observeUntil?: Date | null; reason?: string | null },
  ): Promise<void> {
    await tx.query(
      `update deployments set
         status = coalesce($2, status),
         batch_index = coalesce($3, batch_index),
         observe_until = case when $4::boolean then $5::timestamptz else observe_until end,
         reason = case when $6::boolean then $7 else reason end,
         updated_at = now()
       where id = $1`,
      [
        id,
        patch.status ?? null,
        patch.batchIndex ?? null,
        patch.observeUntil !== undefined,
        patch.observeUntil ?? null,
        patch.reason !== undefined,
        patch.reason ?? null,
      ],
    );
  }

  async setDevicePhase(tx: SqlExecutor, id: string, deviceId: string, phase: DeviceRolloutPhase, reason: string | null = null): Promise<void> {
    await this.setDevicePhases(tx, id, [deviceId], phase, reason);
  }

  /** Moves several devices of a deployment to one phase in one statement. */
  async setDevicePhases(tx: SqlExecutor, id: string, deviceIds: string[], phase: DeviceRolloutPhase, reason: string | null = null): Promise<void> {
    if (deviceIds.length === 0) return;
    await tx.query(
      `update deployment_devices set state = $3, reason = $4, updated_at = now(),
              desired_at = case when $3 = 'sent' then now() else desired_at end
        where deployment_id = $1 and device_id = any($2::text[])`,
      [id, deviceIds, phase, reason],
    );
  }

  /**
   * Takes up to `limit` of the deployment's devices that are due and were never told (phase `pending`, wave up
   * to the deployment's `batch_index`) for one publisher: `desired_at` of a `pending` device is when a publisher took
   * it, and one taken more than `leaseSeconds` ago (its publisher died or lost the broker) is taken again.
   * Returns each with the desired state stored for it by this deployment, or null when a later deployment
   * stored another one before this one was sent (superseded).
   */
  async claimUnsent(
    tx: SqlExecutor,
    id: string,
    leaseSeconds: number,
    limit: number,
  ): Promise<Array<{ deviceId: string; desired: StoredDesiredState | null }>> {
    const rows = await tx.query<{ device_id: string; payload: StoredDesiredState | string | null }>(
      `with due as (
         select device_id from deployment_devices
          where deployment_id = $1 and state = 'pending'
            and wave <= (select batch_index from deployments where id = $1)
            and (desired_at is null or desired_at < now() - make_interval(secs => $2))
          order by wave, device_id limit $3),
       claimed as (
         update deployment_devices dd set desired_at = now() from due
          where dd.deployment_id = $1 and dd.device_id = due.device_id
         returning dd.device_id)
       select c.device_id, d.payload from claimed c left join device_desired d on d.device_id = c.device_id and d.deployment_id = $1`,
      [id, leaseSeconds, limit],
    );
    return rows.map((r) => ({ deviceId: r.device_id, desired: r.payload === null ? null : (json(r.payload) as StoredDesiredState) }));
  }

  /**
   * Records that a device's desired state reached the broker (PUBACK): `pending` → `sent`, `desired_at` now
   * (the wave timeout counts from it). Calls made together go out as one statement.
   */
  markSent(deploymentId: string, deviceId: string): Promise<boolean> {
    return this.sentWrites.add({ deploymentId, deviceId });
  }

  private async writeSent(items: Array<{ deploymentId: string; deviceId: string }>): Promise<boolean[]> {
    const rows = await this.db.query<{ deployment_id: string; device_id: string }>(
      `update deployment_devices dd set state = 'sent', desired_at = now(), updated_at = now()
         from unnest($1::text[], $2::text[]) as s(deployment_id, device_id)
        where dd.deployment_id = s.deployment_id and dd.device_id = s.device_id and dd.state = 'pending'
        returning dd.deployment_id, dd.device_id`,
      [items.map((i) => i.deploymentId), items.map((i) => i.deviceId)],
    );
    const moved = new Set(rows.map((r) => `${r.deployment_id}/${r.device_id}`));
    return items.map((i) => moved.has(`${i.deploymentId}/${i.deviceId}`));
  }

  /**
   * Moves the deployment's `sent` devices whose stored reported state is `active` on `model` to `active`, in
   * one statement that reads nothing into the process; returns how many moved. A `pending` device whose report
   * names this deployment moves too: it was told (only its desired state carries the id), its publisher just
   * has not recorded the PUBACK yet.
   */
  async markActive(tx: SqlExecutor, id: string, model: ModelVersionRef): Promise<number> {
    const rows = await tx.query<{ device_id: string }>(
      `update deployment_devices dd set state = 'active', reason = null, updated_at = now()
         from device_state s
        where dd.deployment_id = $1 and s.device_id = dd.device_id
          and (dd.state = 'sent' or (dd.state = 'pending' and s.reported->>'deploymentId' = $1))
          and s.reported->>'state' = 'active' and s.reported->'running'->>'name' = $2
          and (s.reported->'running'->>'version')::int = $3
        returning dd.device_id`,
      [id, model.name, model.version],
    );
    return rows.length;
  }

  /**
   * The deployment's `sent` and `active` devices that may have to fail, with their reported state: a
   * failure reported for this deployment, a desired state sent before `sentBefore` (the wave timeout), or
   * an `active` device whose report names another version. Usually none: the rest need no look.
   */
  async failureCandidates(
    tx: SqlExecutor,
    id: string,
    model: ModelVersionRef,
    sentBefore: Date,
  ): Promise<Array<{ deviceId: string; phase: DeviceRolloutPhase; desiredAt: Date | null; reported: ReportedState | null }>> {
    const rows = await tx.query<{ device_id: string; state: DeviceRolloutPhase; desired_at: Date | string | null; reported: ReportedState | string | null }>(
      `select dd.device_id, dd.state, dd.desired_at, s.reported
         from deployment_devices dd left join device_state s on s.device_id = dd.device_id
        where dd.deployment_id = $1 and dd.state in ('sent', 'active')
          and ((s.reported->>'state' = 'failed' and s.reported->>'deploymentId' = $1)
            or (dd.state = 'sent' and dd.desired_at < $4)
            or (dd.state = 'active' and (s.reported->'running'->>'name' is distinct from $2
                                      or (s.reported->'running'->>'version')::int is distinct from $3)))
        order by dd.wave, dd.device_id`,
      [id, model.name, model.version, sentBefore.toISOString()],
    );
    return rows.map((r) => ({ deviceId: r.device_id, phase: r.state, desiredAt: r.desired_at ? new Date(r.desired_at) : null, reported: json(r.reported) as ReportedState | null }));
  }

  /** How far wave `wave` is (counts by phase, the first failure by device id) and the deployment's last wave. */
  async waveProgress(tx: SqlExecutor, id: string, wave: number): Promise<WaveProgress> {
    const rows = await tx.query<{ total: number | string; active: number | string; failed: number | string; last_wave: number | string | null; first_failure: string | null }>(
      `select count(*) filter (where wave = $2) as total,
              count(*) filter (where wave = $2 and state = 'active') as active,
              count(*) filter (where wave = $2 and state = 'failed') as failed,
              max(wave) as last_wave,
              (select reason from deployment_devices f where f.deployment_id = $1 and f.wave = $2 and f.state = 'failed'
                order by f.device_id limit 1) as first_failure
         from deployment_devices where deployment_id = $1`,
      [id, wave],
    );
    const r = rows[0];
    return { total: Number(r.total), active: Number(r.active), failed: Number(r.failed), lastWave: Number(r.last_wave ?? 0), firstFailure: r.first_failure };
  }

  async saveDesired(tx: SqlExecutor, desired: DesiredState): Promise<void> {
    await this.saveDesiredStates(tx, [desired]);
  }

  /** Stores each device's current desired state (for publishing and republishing), in one statement, without the shared parts. */
  async saveDesiredStates(tx: SqlExecutor, states: DesiredState[]): Promise<void> {
    if (states.length === 0) return;
    await tx.query(
      `insert into device_desired (device_id, deployment_id, model_name, model_version, rollback, payload)
       select d.device_id, d.deployment_id, d.model_name, d.model_version, d.rollback, d.payload::jsonb
         from unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::boolean[], $6::text[])
           as d(device_id, deployment_id, model_name, model_version, rollback, payload)
       on conflict (device_id) do update set deployment_id = excluded.deployment_id, model_name = excluded.model_name,
         model_version = excluded.model_version, rollback = excluded.rollback, payload = excluded.payload, updated_at = now()`,
      [
        states.map((d) => d.deviceId),
        states.map((d) => d.deploymentId),
        states.map((d) => d.model.name),
        states.map((d) => d.model.version),
        states.map((d) => d.rollback),
        states.map(({ manifest: _manifest, blobs: _blobs, ...own }) => JSON.stringify(own)),
      ],
    );
  }

  async clearDesired(tx: SqlExecutor, deviceId: string): Promise<void> {
    await tx.query('delete from device_desired where device_id = $1', [deviceId]);
  }

  /** Every device's current desired state, to republish after a broker lost its retained messages. */
  async allDesired(): Promise<StoredDesiredState[]> {
    const rows = await this.db.query<{ payload: StoredDesiredState | string }>('select payload from device_desired order by device_id');
    return rows.map((r) => json(r.payload) as StoredDesiredState);
  }
}

function toDeployment(r: DeploymentRow): DeploymentRecord {
  return {
    id: r.id,
    model: { name: r.model_name, version: Number(r.model_version) },
    target: json(r.target) as DeploymentTarget,
    strategy: json(r.strategy) as DeploymentStrategy,
    status: r.status,
    batchIndex: Number(r.batch_index),
    observeUntil: r.observe_until ? new Date(r.observe_until) : null,
    reason: r.reason,
    createdBy: r.created_by,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

function toDevice(r: DeviceRow): DeploymentDeviceRecord {
  return {
    deviceId: r.device_id,
    wave: Number(r.wave),
    previous: r.previous_name && r.previous_version !== null ? { name: r.previous_name, version: Number(r.previous_version) } : null,
    phase: r.state,
    reason: r.reason,
    desiredAt: r.desired_at ? new Date(r.desired_at) : null,
    updatedAt: iso(r.updated_at),
  };
}
