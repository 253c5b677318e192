import type { ReportedState } from '@edgeloop/contracts';
import { startDatabase, type DatabaseHandle } from '@edgeloop/harness';
import { SqlDatabase } from '../database/sql-database';
import { migrate } from '../database/migrator';
import { DeploymentRepository } from './deployment.repository';
import { DeviceRepository } from './device.repository';

/**
 * A rollout tick reads its devices' progress in SQL (set-based: it moves the active ones in one statement and
 * reads only those that may fail); here each case of a tick's reading, on one deployment of eight devices.
 */
const engines: Array<'pglite' | 'postgres'> = process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

const TARGET = { name: 'face-id', version: 7 };
const DEPLOYMENT = 'dep_progress';

function reported(deviceId: string, state: ReportedState['state'], version: number, deploymentId = DEPLOYMENT): ReportedState {
  return {
    v: 1,
    deviceId,
    ts: Date.now(),
    agentVersion: '0.1.0',
    state,
    failure: state === 'failed' ? { code: 'verify_failed', message: 'bad signature' } : null,
    deploymentId,
    running: { name: 'face-id', version },
    lastKnownGood: { name: 'face-id', version: 6 },
    target: state === 'active' ? null : TARGET,
    health: { fps: 10, latencyMs: { p50: 50, p95: 80 }, rssBytes: 120_000_000, outboxDepth: 0, outboxDropped: 0, droppedFrames: 0 },
  } as ReportedState;
}

describe.each(engines)('a rollout tick reads its devices in SQL (%s)', (engine) => {
  let handle: DatabaseHandle;
  let db: SqlDatabase;
  let devices: DeviceRepository;
  let deployments: DeploymentRepository;
  const ids = ['d-active', 'd-warming', 'd-failed', 'd-failed-elsewhere', 'd-silent', 'd-drifted', 'd-next-wave', 'd-older-version', 'd-told-unrecorded'];

  beforeAll(async () => {
    handle = await startDatabase({ engine: engine === 'pglite' ? 'pglite' : 'auto' });
    db = await SqlDatabase.open(handle.kind === 'postgres' ? { kind: 'postgres', url: handle.url } : { kind: 'pglite-instance', db: handle.pglite });
    await migrate(db);
    devices = new DeviceRepository(db);
    deployments = new DeploymentRepository(db);
    for (const id of ids) await devices.insert({ id, name: id, group: 'g', labels: {}, mqttPasswordHash: `m-${id}`, httpTokenHash: `h-${id}` });
    await db.transaction(async (tx) => {
      await deployments.insert(
        tx,
        { id: DEPLOYMENT, model: TARGET, target: { group: 'g' }, strategy: { type: 'all' }, createdBy: null },
        ids.map((deviceId) => ({ deviceId, wave: deviceId === 'd-next-wave' ? 1 : 0, previous: null })),
      );
      // d-told-unrecorded stays pending: its desired state reached it, but the broker's PUBACK was never recorded
      await deployments.setDevicePhases(
        tx,
        DEPLOYMENT,
        ids.filter((id) => id !== 'd-next-wave' && id !== 'd-told-unrecorded'),
        'sent',
      );
      await deployments.setDevicePhases(tx, DEPLOYMENT, ['d-drifted'], 'active');
    });
    await Promise.all([
      devices.setReported('d-active', reported('d-active', 'active', 7), new Date()),
      devices.setReported('d-warming', reported('d-warming', 'warming', 7), new Date()),
      devices.setReported('d-failed', reported('d-failed', 'failed', 6), new Date()),
      devices.setReported('d-failed-elsewhere', reported('d-failed-elsewhere', 'failed', 6, 'dep_other'), new Date()),
      devices.setReported('d-drifted', reported('d-drifted', 'active', 5), new Date()),
      // already on the target version from an earlier deployment: not told by this one, so it stays pending
      devices.setReported('d-next-wave', reported('d-next-wave', 'active', 7, 'dep_earlier'), new Date()),
      devices.setReported('d-told-unrecorded', reported('d-told-unrecorded', 'active', 7), new Date()),
      devices.setReported('d-older-version', reported('d-older-version', 'active', 6), new Date()),
    ]);
  });
  afterAll(async () => {
    await db?.close();
    await handle?.stop();
  });

  it('moves the sent devices that report active on the target version, and the pending ones whose report names this deployment', async () => {
    expect(await db.transaction((tx) => deployments.markActive(tx, DEPLOYMENT, TARGET))).toBe(2);
    // a second tick finds nothing more to move
    expect(await db.transaction((tx) => deployments.markActive(tx, DEPLOYMENT, TARGET))).toBe(0);
    const phases = Object.fromEntries((await deployments.devices(DEPLOYMENT)).map((d) => [d.deviceId, d.phase]));
    expect(phases).toEqual({
      'd-active': 'active',
      'd-warming': 'sent',
      'd-failed': 'sent',
      'd-failed-elsewhere': 'sent',
      'd-silent': 'sent',
      'd-drifted': 'active',
      'd-next-wave': 'pending',
      'd-older-version': 'sent',
      'd-told-unrecorded': 'active',
    });
  });

  it('reads as failure candidates only a failure for this deployment and an active device on another version, until the timeout passes', async () => {
    const candidates = await db.transaction((tx) => deployments.failureCandidates(tx, DEPLOYMENT, TARGET, new Date(Date.now() - 60_000)));
    expect(candidates.map((c) => ({ id: c.deviceId, phase: c.phase, state: c.reported?.state ?? null }))).toEqual([
      { id: 'd-drifted', phase: 'active', state: 'active' },
      { id: 'd-failed', phase: 'sent', state: 'failed' },
    ]);
    // once the wave timeout has passed, every device still `sent` is a candidate too (with or without a report)
    const late = await db.transaction((tx) => deployments.failureCandidates(tx, DEPLOYMENT, TARGET, new Date(Date.now() + 60_000)));
    expect(late.map((c) => c.deviceId)).toEqual(['d-drifted', 'd-failed', 'd-failed-elsewhere', 'd-older-version', 'd-silent', 'd-warming']);
    expect(late.find((c) => c.deviceId === 'd-silent')!.reported).toBeNull();
  });

  it('counts a wave by phase, with its first failure by device id and the last wave', async () => {
    await db.transaction(async (tx) => {
      await deployments.setDevicePhases(tx, DEPLOYMENT, ['d-silent'], 'failed', 'timeout: b');
      await deployments.setDevicePhases(tx, DEPLOYMENT, ['d-failed'], 'failed', 'verify_failed: a');
    });
    expect(await db.transaction((tx) => deployments.waveProgress(tx, DEPLOYMENT, 0))).toEqual({
      total: 8,
      active: 3,
      failed: 2,
      lastWave: 1,
      firstFailure: 'verify_failed: a',
    });
    expect(await db.transaction((tx) => deployments.waveProgress(tx, DEPLOYMENT, 1))).toEqual({
      total: 1,
      active: 0,
      failed: 0,
      lastWave: 1,
      firstFailure: null,
    });
  });
});
