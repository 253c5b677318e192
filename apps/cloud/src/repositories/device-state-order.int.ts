import type { ReportedState } from '@edgeloop/contracts';
import { startDatabase, type DatabaseHandle } from '@edgeloop/harness';
import { SqlDatabase } from '../database/sql-database';
import { migrate } from '../database/migrator';
import { DeviceRepository } from './device.repository';

/**
 * Replicas handle a device's messages in any order (another replica, a redelivery): the stored reported
 * state and presence are those of the newest message by its own `ts`, whatever order they are handled in.
 */
const engines: Array<'pglite' | 'postgres'> = process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

const T0 = 1_769_860_805_000;
const FLEET = Array.from({ length: 40 }, (_, i) => `fleet-${String(i).padStart(2, '0')}`);

function reported(ts: number, version: number, state: ReportedState['state'] = 'active'): ReportedState {
  return {
    v: 1,
    deviceId: 'cam-01',
    ts,
    agentVersion: '0.1.0',
    state,
    failure: null,
    deploymentId: 'dep_01HZX3',
    running: { name: 'face-id', version },
    lastKnownGood: { name: 'face-id', version: 6 },
    target: state === 'active' ? null : { name: 'face-id', version: 7 },
    health: { fps: 11.5, latencyMs: { p50: 61.2, p95: 88.9 }, rssBytes: 131_000_000, outboxDepth: 0, outboxDropped: 0, droppedFrames: 3 },
  };
}

describe.each(engines)('device state in message order (SQL on %s)', (engine) => {
  let handle: DatabaseHandle;
  let db: SqlDatabase;
  let devices: DeviceRepository;

  beforeAll(async () => {
    handle = await startDatabase({ engine: engine === 'pglite' ? 'pglite' : 'auto' });
    db = await SqlDatabase.open(handle.kind === 'postgres' ? { kind: 'postgres', url: handle.url } : { kind: 'pglite-instance', db: handle.pglite });
    expect(db.kind).toBe(engine);
    await migrate(db);
    devices = new DeviceRepository(db);
    for (const id of ['cam-01', 'cam-02', 'cam-03', ...FLEET]) {
      await devices.insert({ id, name: id, group: null, labels: {}, mqttPasswordHash: `m-${id}`, httpTokenHash: `h-${id}` });
    }
  });
  afterAll(async () => {
    await db?.close();
    await handle?.stop();
  });

  it('a newer reported state stays when an older one is handled after it', async () => {
    expect(await devices.setReported('cam-01', reported(T0 + 2000, 7), new Date(T0 + 2100))).toBe(true);
    expect(await devices.setReported('cam-01', reported(T0 + 1000, 6, 'warming'), new Date(T0 + 2200))).toBe(false);

    const device = (await devices.get('cam-01'))!;
    expect(device.reported).toEqual(reported(T0 + 2000, 7));
    // the older message was still seen: "last seen" is when it arrived
    expect(device.lastSeenAt).toBe(new Date(T0 + 2200).toISOString());
  });

  it('reported states handled in order are each written', async () => {
    expect(await devices.setReported('cam-02', reported(T0 + 1000, 6, 'warming'), new Date(T0 + 1100))).toBe(true);
    expect(await devices.setReported('cam-02', reported(T0 + 2000, 7), new Date(T0 + 2100))).toBe(true);
    expect((await devices.get('cam-02'))!.reported).toEqual(reported(T0 + 2000, 7));
  });

  it('an older status handled later leaves the newer presence', async () => {
    // the will of a session that started at T0, handled after the `online` of the session that started at T0 + 5 s
    expect(await devices.setPresence('cam-03', 'online', T0 + 5000, new Date(T0 + 5100))).toBe(true);
    expect(await devices.setPresence('cam-03', 'offline', T0, new Date(T0 + 5200))).toBe(false);
    expect((await devices.get('cam-03'))!.presence).toBe('online');
    // the will of the current session is applied
    expect(await devices.setPresence('cam-03', 'offline', T0 + 5000, new Date(T0 + 9000))).toBe(true);
    const device = (await devices.get('cam-03'))!;
    expect(device.presence).toBe('offline');
    expect(device.lastSeenAt).toBe(new Date(T0 + 9000).toISOString());
  });

  it('writes made at the same time go in a few statements, each with its own outcome, two of one device in order', async () => {
    const statements: string[] = [];
    const query = db.query.bind(db);
    const spy = jest.spyOn(db, 'query').mockImplementation((text: string, params?: unknown[]) => {
      statements.push(text);
      return query(text, params);
    });
    try {
      // every device reports twice at once: `warming` (older) then `active`; half of them also a stale report last
      const writes = FLEET.flatMap((id, i) => {
        const at = (ts: number, version: number, state: ReportedState['state'] = 'active') => ({ ...reported(ts, version, state), deviceId: id });
        const list = [
          devices.setReported(id, at(T0 + 1000, 6, 'warming'), new Date(T0 + 1100)),
          devices.setReported(id, at(T0 + 2000, 7), new Date(T0 + 2100)),
          devices.setPresence(id, 'online', T0 + 500, new Date(T0 + 600)),
        ];
        if (i % 2 === 0) list.push(devices.setReported(id, at(T0 + 1500, 6, 'warming'), new Date(T0 + 2200)));
        return list;
      });
      const outcomes = await Promise.all(writes);
      expect(outcomes).toEqual(FLEET.flatMap((_, i) => (i % 2 === 0 ? [true, true, true, false] : [true, true, true])));
    } finally {
      spy.mockRestore();
    }
    // 140 writes of 40 devices: one statement per round of at most one write per device and kind (3 reported + 1 presence), not 140
    expect(statements.length).toBeLessThanOrEqual(4);
    const stored = await devices.getMany(FLEET);
    expect(FLEET.map((id) => ({ id, version: stored.get(id)?.reported?.running?.version, presence: stored.get(id)?.presence }))).toEqual(
      FLEET.map((id) => ({ id, version: 7, presence: 'online' })),
    );
    expect(FLEET.map((id) => stored.get(id)?.lastSeenAt)).toEqual(FLEET.map((_, i) => new Date(T0 + (i % 2 === 0 ? 2200 : 2100)).toISOString()));
  });
});
