import { type ProvisionDeviceResponse } from '@edgeloop/contracts';
import { seededRandom } from '@edgeloop/harness';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SqlDatabase } from '../apps/cloud/src/database/sql-database';
import { startCloudFixture, type CloudFixture } from '../apps/cloud/src/testing/cloud-fixture';
import { Outbox } from '../apps/edge/src/outbox/outbox';
import { baseModelsDir, franckFrames, tempStateDir } from '../apps/edge/src/testing/edge-env';
import { LinkProxy } from '../apps/edge/src/testing/link-proxy';
import { buildEdge, EdgeProcess } from '../apps/edge/src/testing/edge-process';
import { CloudApi, eventually, sleep } from './support/cloud-api';

const DEVICE = 'cam-outbox-kill';
/** `OUTBOX_KILL_SEED` and `OUTBOX_KILL_COUNT` for a longer run; the moments of the kills follow from the seed. */
const SEED = Number(process.env.OUTBOX_KILL_SEED ?? 42);
const KILLS = Number(process.env.OUTBOX_KILL_COUNT ?? 5);
/** Each kill comes this long (seeded, uniform) after the restarted worker's first batch reached SQL. */
const KILL_WINDOW_MS = 1500;
/**
 * The worker reaches Mosquitto through a proxy that delivers what the broker sends it this much later: the
 * cloud's acks come back in milliseconds on a quiet machine, so without it no kill may fall between a row's
 * store and its ack (each batch's row then waits at least this long for its ack, a batch goes every 200 ms).
 */
const ACK_LATENCY_MS = 400;

/** What the outbox file held when the worker was killed: rows stored and not yet acknowledged by the cloud. */
interface KillRecord {
  afterMs: number;
  lastSeq: number;
  pendingRows: number;
}

/**
 * The edge outbox between store and ack, with a real worker process on real frames against a real cloud
 * (Mosquitto with the cloud's ACLs, BullMQ, SQL): SIGKILL at seeded moments while it sends, restart on the
 * same state folder, and at the end every batch the outbox numbered — every seq of its epoch — is in the
 * cloud's `prediction_batches` once, and the aggregates hold exactly their frames. Frames still in the
 * worker's memory (the batch being filled) are never numbered, so they are not part of the promise.
 */
describe('edge outbox: SIGKILL between store and ack (worker process, Mosquitto, cloud)', () => {
  let build: ReturnType<typeof buildEdge>;
  let fx: CloudFixture;
  let db: SqlDatabase;
  let password: string;
  let framesDir: string;
  let link: LinkProxy;
  const state = tempStateDir('edge-outbox-kill-');
  const aux = tempStateDir('edge-outbox-kill-aux-');
  const children: EdgeProcess[] = [];

  function start(overrides: Record<string, string> = {}): EdgeProcess {
    const child = new EdgeProcess(build.main, {
      EDGE_DEVICE_ID: DEVICE,
      EDGE_STATE_DIR: state.dir,
      EDGE_MODELS_DIR: baseModelsDir,
      EDGE_SOURCE: `folder:${framesDir}`,
      EDGE_FPS: '10',
      EDGE_LOG_LEVEL: 'info',
      EDGE_LOG_FRAMES: 'false',
      EDGE_HTTP_PORT: '0',
      EDGE_MQTT_URL: link.url,
      EDGE_MQTT_PASSWORD: password,
      EDGE_MQTT_RECONNECT_MS: '250',
      EDGE_HEARTBEAT_S: '2',
      EDGE_BATCH_MAX_ITEMS: '2',
      EDGE_HARD_EXAMPLES_BURST: '0',
      ...overrides,
    });
    children.push(child);
    return child;
  }

  const storedBatches = async (): Promise<Array<{ epoch: string; seq: number; items: number }>> =>
    (await db.query<{ epoch: string; seq: string; items: number }>('select epoch, seq, items from prediction_batches where device_id = $1', [DEVICE])).map(
      (r) => ({ epoch: r.epoch, seq: Number(r.seq), items: Number(r.items) }),
    );
  const aggregatedFrames = async (): Promise<number> =>
    Number(
      (await db.query<{ frames: string | null }>('select sum(frames) as frames from prediction_aggregates where device_id = $1', [DEVICE]))[0]?.frames ?? 0,
    );
  const outboxNow = () => {
    const outbox = Outbox.open(join(state.dir, 'outbox.sqlite'), { maxRows: 20_000, maxBytes: 64 << 20 });
    try {
      return outbox.stats();
    } finally {
      outbox.close();
    }
  };
  beforeAll(async () => {
    build = buildEdge();
    fx = await startCloudFixture({ broker: 'mosquitto' });
    const broker = new URL(fx.mqttUrl!);
    link = new LinkProxy({ host: broker.hostname, port: Number(broker.port) }, { downLatencyMs: ACK_LATENCY_MS });
    await link.start();
    db = fx.cloud.app.get(SqlDatabase);
    const api = new CloudApi(() => [fx.url], fx.adminToken);
    password = (await api.json<ProvisionDeviceResponse>('/api/v1/devices', { method: 'POST', body: JSON.stringify({ id: DEVICE, name: DEVICE }) })).credentials
      .mqtt.password;
    framesDir = join(aux.dir, 'frames');
    mkdirSync(framesDir);
    franckFrames()
      .slice(0, 3)
      .forEach((jpeg, i) => writeFileSync(join(framesDir, `frame-${i}.jpg`), jpeg));
  }, 120_000);

  afterAll(async () => {
    for (const child of children) await child.kill();
    await link?.stop();
    await fx?.stop();
    build?.remove();
    state.remove();
    aux.remove();
  });

  it(`loses no stored batch and counts none twice over ${KILLS} kills (seed ${SEED})`, async () => {
    const random = seededRandom(SEED);
    const kills: KillRecord[] = [];
    for (let k = 0; k < KILLS; k++) {
      const before = (await storedBatches()).length;
      const worker = start();
      await eventually(storedBatches, (stored) => stored.length > before, 30_000, `the worker's first batch after start ${k + 1}`);
      const afterMs = Math.round(random() * KILL_WINDOW_MS);
      await sleep(afterMs);
      expect(await worker.kill('SIGKILL')).toBeNull();
      const outbox = outboxNow();
      kills.push({ afterMs, lastSeq: outbox.lastSeq, pendingRows: outbox.rows });
    }

    // The last start only drains: one frame every 10 s into batches of 25 stores nothing new meanwhile.
    const drainer = start({ EDGE_FPS: '0.1', EDGE_BATCH_MAX_ITEMS: '25', EDGE_BATCH_MAX_MS: '3600000' });
    const port = await drainer.httpPort();
    const health = async () => (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { outboxDepth: number };
    await eventually(health, (h) => h.outboxDepth === 0, 30_000, 'the outbox to drain');
    await drainer.kill('SIGKILL');
    const { lastSeq, epoch, rows, droppedPredictions } = outboxNow();
    expect(rows).toBe(0);
    expect(droppedPredictions).toBe(0);

    // The cloud acks once a batch is a job in Redis: wait for SQL, then look once more after a pause.
    await eventually(storedBatches, (stored) => stored.length >= lastSeq, 30_000, `${lastSeq} batches in SQL`);
    await sleep(1000);
    const stored = await storedBatches();
    const seqs = stored.filter((b) => b.epoch === epoch).map((b) => b.seq);
    const lost = Array.from({ length: lastSeq }, (_, i) => i + 1).filter((s) => !seqs.includes(s));
    const frames = stored.reduce((n, b) => n + b.items, 0);
    const aggregated = await aggregatedFrames();
    const metrics = await (await fetch(`${fx.url}/metrics`)).text();
    const duplicates = Number(/edgeloop_ingest_total\{counter="batches_duplicate"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    process.stdout.write(
      `edge-outbox-kill (seed ${SEED}): ${KILLS} kills at ${kills.map((k) => `${k.afterMs} ms`).join(', ')} after the first batch; ` +
        `rows stored and not acked at each kill: ${kills.map((k) => k.pendingRows).join(', ')}; ${lastSeq} batches, ${frames} frames; ` +
        `lost ${lost.length}, aggregated ${aggregated} frames (twice: ${aggregated - frames}); ${duplicates} duplicate deliveries deduped by the cloud\n`,
    );

    // the kills hit the window between store and ack
    expect(kills.some((k) => k.pendingRows > 0)).toBe(true);
    expect(kills.at(-1)!.lastSeq).toBeLessThanOrEqual(lastSeq);
    // lost 0: every seq the outbox numbered, once, under the one epoch of this state folder
    expect(stored.every((b) => b.epoch === epoch)).toBe(true);
    expect(lost).toEqual([]);
    expect(seqs.length).toBe(lastSeq);
    // twice 0: the aggregates hold each stored batch's frames exactly once
    expect(aggregated).toBe(frames);
  }, 240_000);
});
