import type { DriftDetectedSchema, ModelVersionRef } from '@edgeloop/contracts';
import { accumulateBatch, createWindowStats, evaluateDrift, mergeWindowStats, type WindowStats } from '@edgeloop/drift';
import { startDatabase, type DatabaseHandle } from '@edgeloop/harness';
import { EventEmitter2 } from '@nestjs/event-emitter';
import type { z } from 'zod';
import { CloudConfig } from '../config/cloud.config';
import { migrate } from '../database/migrator';
import { SqlDatabase } from '../database/sql-database';
import { DomainEvents } from '../events/domain-events';
import { EventRelay } from '../events/event-relay';
import { BlobRepository } from '../repositories/blob.repository';
import { DriftRepository, type DriftStateRecord } from '../repositories/drift.repository';
import { ModelRepository } from '../repositories/model.repository';
import { PredictionRepository, type AggregateFilter, type AggregateKey, type AggregateRow } from '../repositories/prediction.repository';
import { DARK_BLURRED_STRANGERS, makeBatch, seededRandom, STABLE } from '../testing/prediction-batches';
import { DriftService } from './drift.service';

/**
 * Two cloud replicas' drift checks on one PostgreSQL: each replica is its own DriftService with its own
 * connection pool, as two worker processes are. Six devices, two of which turn dark and unknown: one
 * drift event, naming those two, however the replicas' checks interleave.
 */
const DEVICES = ['rp-1', 'rp-2', 'rp-3', 'rp-4', 'rp-5', 'rp-6'];
const DRIFTING = ['rp-5', 'rp-6'];
const BUCKET_MS = 1000;
/** The first bucket (on a bucket boundary). */
const T0 = 1_769_860_800_000;
/** Buckets of stable traffic, then buckets in which DRIFTING turn dark. */
const STABLE_BUCKETS = 5;
const DRIFT_BUCKETS = 6;

type DriftDetected = z.infer<typeof DriftDetectedSchema>;

/** A DriftRepository whose next `state()` read waits for `hold` before returning: a replica stalled after reading. */
class StallingDriftRepository extends DriftRepository {
  hold?: Promise<void>;
  stalled?: () => void;

  override async state(model: ModelVersionRef): Promise<DriftStateRecord> {
    const state = await super.state(model);
    const hold = this.hold;
    if (hold) {
      this.hold = undefined;
      this.stalled?.();
      await hold;
    }
    return state;
  }
}

interface Replica {
  db: SqlDatabase;
  drift: StallingDriftRepository;
  service: DriftService;
}

describe('drift checks of two replicas on one PostgreSQL', () => {
  let handle: DatabaseHandle;
  let config: CloudConfig;
  let replicas: Replica[];
  const events: DriftDetected[] = [];

  beforeAll(async () => {
    handle = await startDatabase({ engine: 'postgres' });
    if (handle.kind !== 'postgres') throw new Error('these checks need PostgreSQL');
    config = CloudConfig.fromEnv({
      DATABASE_URL: handle.url,
      // S3 is required by the configuration; nothing here reads or writes blobs
      S3_ENDPOINT: '127.0.0.1',
      S3_PORT: '9',
      S3_ACCESS_KEY: 'drift-replicas-test',
      S3_SECRET_KEY: 'drift-replicas-test-secret',
      EDGELOOP_AGGREGATE_BUCKET_SECONDS: '1',
      EDGELOOP_DRIFT_WINDOW_SECONDS: '3',
      EDGELOOP_DRIFT_CONFIRM_WINDOWS: '2',
    });
    const emitter = new EventEmitter2();
    emitter.on('drift.detected', (event: { data: DriftDetected }) => void events.push(event.data));
    replicas = [];
    for (let i = 0; i < 2; i++) {
      const db = await SqlDatabase.open({ kind: 'postgres', url: handle.url, poolSize: 4 });
      if (i === 0) await migrate(db);
      const drift = new StallingDriftRepository(db);
      const predictions = new PredictionRepository(db, new BlobRepository(config));
      const domainEvents = new DomainEvents(emitter, new EventRelay(config));
      replicas.push({ db, drift, service: new DriftService(config, drift, predictions, new ModelRepository(db), domainEvents) });
    }
  }, 30_000);

  afterAll(async () => {
    for (const replica of replicas ?? []) await replica.db.close();
    await handle?.stop();
  });

  beforeEach(() => void (events.length = 0));

  /**
   * Per device and bucket, 30 frames (enough for each device's own window to be judged); DRIFTING go dark
   * after `stableBuckets`. A canary start: for the first `canaryBuckets` only the first device, 10 frames a bucket.
   */
  async function stream(model: ModelVersionRef, options: { canaryBuckets?: number; stableBuckets?: number } = {}): Promise<void> {
    const predictions = new PredictionRepository(replicas[0]!.db, new BlobRepository(config));
    const entries: Array<{ key: AggregateKey; stats: WindowStats }> = [];
    const canaryBuckets = options.canaryBuckets ?? 0;
    const stableBuckets = options.stableBuckets ?? STABLE_BUCKETS;
    for (let bucket = 0; bucket < stableBuckets + DRIFT_BUCKETS; bucket++) {
      for (const [index, deviceId] of (bucket < canaryBuckets ? DEVICES.slice(0, 1) : DEVICES).entries()) {
        const profile = bucket >= stableBuckets && DRIFTING.includes(deviceId) ? DARK_BLURRED_STRANGERS : STABLE;
        const bucketStart = T0 + bucket * BUCKET_MS;
        // every device its own random stream: real cameras do not send the same frames
        const random = seededRandom(model.version * 1_000_003 + bucket * 7919 + index * 104_729);
        const frames = bucket < canaryBuckets ? 10 : 30;
        const batch = makeBatch(deviceId, bucket + 1, model, profile, { frames, end: bucketStart + BUCKET_MS, random });
        entries.push({ key: { deviceId, model, bucketStart: new Date(bucketStart) }, stats: accumulateBatch(createWindowStats(), batch) });
      }
    }
    await replicas[0]!.db.transaction((tx) => predictions.mergeAggregates(tx, entries));
  }

  /** When the window that ends with bucket `n` (exclusive) is closed: `n` buckets after T0 plus the lateness allowance. */
  const closedAfter = (n: number) => T0 + n * BUCKET_MS + config.driftLatenessSeconds * 1000;

  it('both replicas check every window at once: one event, naming the two drifting devices', async () => {
    const model = { name: 'face-id', version: 1 };
    await stream(model);
    for (let n = 3; n <= STABLE_BUCKETS + DRIFT_BUCKETS; n++) {
      await Promise.all(replicas.map((replica) => replica.service.check(model, closedAfter(n))));
    }
    expect(events.map((event) => ({ model: event.model, devices: event.devices }))).toEqual([{ model, devices: DRIFTING }]);
    const stored = await replicas[1]!.service.events({ model: model.name, version: model.version, limit: 10 });
    expect(stored.map((event) => ({ id: event.driftEventId, devices: event.devices }))).toEqual([{ id: events[0]!.driftEventId, devices: DRIFTING }]);
  }, 20_000);

  it('a replica that read the state before the reference was set does not reset the alarm after the event', async () => {
    const model = { name: 'face-id', version: 2 };
    await stream(model);
    const [first, late] = replicas as [Replica, Replica];
    // the late replica reads the state (no reference yet) and stalls there
    let release!: () => void;
    late.drift.hold = new Promise<void>((resolve) => (release = resolve));
    const stalled = new Promise<void>((resolve) => (late.drift.stalled = resolve));
    const lateCheck = late.service.check(model, closedAfter(3));
    await stalled;
    // meanwhile the other replica sets the reference and checks on into the drift, which raises the event
    for (let n = 3; n <= STABLE_BUCKETS + 4; n++) await first.service.check(model, closedAfter(n));
    expect(events).toHaveLength(1);
    // the late check resumes with what it read: it must not store its reference over the state
    release();
    await lateCheck;
    for (let n = STABLE_BUCKETS + 5; n <= STABLE_BUCKETS + DRIFT_BUCKETS; n++) await first.service.check(model, closedAfter(n));
    expect(events.map((event) => event.devices)).toEqual([DRIFTING]);
    expect(await first.service.events({ model: model.name, version: model.version, limit: 10 })).toHaveLength(1);
  }, 20_000);

  it('a version that starts on one device takes windows into its reference until the detectors have enough frames', async () => {
    const model = { name: 'face-id', version: 3 };
    // three buckets of one device (30 frames, too few for any detector), then all six; two go dark later
    await stream(model, { canaryBuckets: 3, stableBuckets: 9 });
    for (let n = 3; n <= 9 + DRIFT_BUCKETS; n++) await replicas[n % 2]!.service.check(model, closedAfter(n));
    expect(events.map((event) => ({ devices: event.devices, reference: event.reference }))).toEqual([
      { devices: DRIFTING, reference: { kind: 'window', start: new Date(T0).toISOString(), end: new Date(T0 + 6 * BUCKET_MS).toISOString() } },
    ]);
  }, 20_000);

  it('a check that slides by a bucket reads that bucket alone and finds what a fresh read of the whole window finds', async () => {
    const model = { name: 'face-id', version: 4 };
    await stream(model);
    const db = replicas[0]!.db;
    const reads: number[] = [];
    class CountingPredictions extends PredictionRepository {
      override aggregates(filter: AggregateFilter): Promise<AggregateRow[]> {
        reads.push(filter.from!.getTime());
        return super.aggregates(filter);
      }
    }
    const emitter = new EventEmitter2();
    emitter.on('drift.detected', (event: { data: DriftDetected }) => void events.push(event.data));
    const predictions = new PredictionRepository(db, new BlobRepository(config));
    const drift = new DriftRepository(db);
    const service = new DriftService(
      config,
      drift,
      new CountingPredictions(db, new BlobRepository(config)),
      new ModelRepository(db),
      new DomainEvents(emitter, new EventRelay(config)),
    );
    const windowBuckets = (config.driftWindowSeconds * 1000) / BUCKET_MS;
    let compared = 0;
    for (let n = 3; n <= STABLE_BUCKETS + DRIFT_BUCKETS; n++) {
      reads.length = 0;
      const eventsBefore = events.length;
      const result = await service.check(model, closedAfter(n));
      if (result.status !== 'checked') continue;
      const start = T0 + (n - windowBuckets) * BUCKET_MS;
      if (compared > 0 && events.length === eventsBefore) {
        // the window slid by one bucket since the last check: only the new bucket is read
        expect(reads).toEqual([T0 + (n - 1) * BUCKET_MS]);
      }
      const rows = await predictions.aggregates({ model: model.name, version: model.version, from: new Date(start), to: new Date(T0 + n * BUCKET_MS) });
      const fresh = evaluateDrift((await drift.state(model)).reference!, mergeWindowStats(rows[0]!.stats, ...rows.slice(1).map((row) => row.stats)));
      expect(result.findings!.map((finding) => [finding.metric, finding.drifted])).toEqual(fresh.map((finding) => [finding.metric, finding.drifted]));
      result.findings!.forEach((finding, i) => expect(finding.value).toBeCloseTo(fresh[i]!.value, 9));
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(STABLE_BUCKETS + DRIFT_BUCKETS - 2 * windowBuckets);
    // the drift is still found and named from each device's own statistics
    expect(events.map((event) => ({ model: event.model, devices: event.devices }))).toEqual([{ model, devices: DRIFTING }]);
  }, 20_000);
});
