/**
 * What a flooding device costs one cloud process (docs/quotas.md): the cloud's CPU per rejected message and
 * the messages per second it rejects while it serves a normal fleet, against the raw broker (aedes with one
 * subscriber, no cloud) fed by the same floods in the same run.
 *
 * Each run: (1) raw broker — ROGUES floods into a bare aedes whose one subscriber acknowledges every
 * message, counted for WINDOW s; (2) cloud, fleet only — FLEET devices publish a batch a second each, the
 * cloud's CPU over WINDOW s; (3) cloud, fleet + floods — the same plus ROGUES devices flooding their own
 * `predictions` topic (default quota, quarantine off so the flood lasts), the cloud's CPU, its rejected
 * messages (`edgeloop_quota_checks{outcome="dropped"}`), /health every 100 ms. CPU per rejected message is
 * (3) minus (2), over the rejected count. Then the fleet's batches are counted in the SQL aggregates: none
 * may be lost.
 *
 * The fleet's latency, what a well-behaved device waits for: each batch from its publish to the cloud's ack naming
 * it on the device's `acks` topic, in (2) and in (3), as percentiles over the window's batches (the quota test's
 * bound, "within 2x of an idle cloud", measured on hundreds of batches a run instead of a dozen). The raw broker
 * beside it: in (1), a probe device publishes a batch-sized message every 20 ms, timed from its publish to the
 * subscriber's receipt, for 2 s before the floods and through the window.
 *
 * All of it twice, each on a cloud of its own: reading and dropping every flooded message
 * (EDGELOOP_QUOTA_HOLD_MAX_MS=0, what one cloud process can reject), then as the cloud runs by default, the embedded
 * broker holding an over-quota device's connection (docs/quotas.md) — what a flood then costs and does to the fleet.
 *
 * BENCH_QUOTA_RUNS=3 BENCH_QUOTA_FLEET=50 BENCH_QUOTA_ROGUES=2 BENCH_QUOTA_WINDOW_SECONDS=8
 * Prints a table and writes bench/results/quota.json.
 */
import { ApiClient } from '@edgeloop/client';
import { API_PREFIX, apiPaths, topicFilters, topics } from '@edgeloop/contracts';
import { createIsolatedDatabase, startEmbeddedBroker, startRedis, startS3, type PostgresDatabase, type RedisServer, type S3Server } from '@edgeloop/harness';
import mqtt, { type MqttClient } from 'mqtt';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseDeviceMessage } from '@edgeloop/contracts';
import { makeBatch, STABLE } from '../../apps/cloud/src/testing/prediction-batches';
import { startBenchCloud, type BenchCloudWithBroker } from '../common/cloud-process';
import { writeResultsFile } from '../common/results-file';
import { repoRoot } from '../common/repo-root';
import { stopOnSignal } from '../common/stop-on-signal';
import { cpuSeconds } from '../ingest/cpu-window';
import { scrapeIngest } from '../ingest/cloud-scrape';
import { HealthProbe } from '../ingest/health-probe';
import { percentile } from '../edge/stats';
import { startFlood, type Flood } from './flood';

const int = (name: string, fallback: number, min: number, max: number): number => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer from ${min} to ${max}`);
  return value;
};
const settings = {
  runs: int('BENCH_QUOTA_RUNS', 3, 1, 3),
  fleet: int('BENCH_QUOTA_FLEET', 50, 1, 500),
  rogues: int('BENCH_QUOTA_ROGUES', 2, 1, 8),
  windowSeconds: int('BENCH_QUOTA_WINDOW_SECONDS', 8, 2, 60),
};
const model = { name: 'quota-bench', version: 1 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Latencies of one window, ms: how many were timed, and their percentiles (nearest rank). */
interface Latency {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

interface Run {
  loadAverage: { before: number; after: number };
  raw: { messages: number; perSecond: number; probeIdle: Latency; probeFlooded: Latency };
  fleetOnly: { cloudCores: number; latency: Latency; healthMaxMs: number };
  flood: {
    cloudCores: number;
    rejected: number;
    rejectedPerSecond: number;
    /** (cloud CPU with the floods − fleet only) / rejected: noisy when the machine is loaded (can come out negative). */
    cpuMicrosecondsPerRejected: number;
    /** All the cloud's CPU during the floods (fleet included) / rejected. */
    cpuMicrosecondsPerRejectedUpperBound: number;
    healthMaxMs: number;
    healthAnswers: number;
    /** Messages the cloud's MQTT client took from the broker in the window (`edgeloop_mqtt_messages{outcome="received"}`; on the embedded broker, those dropped on arrival there never reach it). */
    receivedByCloud: number;
    /** What mosquitto_pub said on stderr (a refused or lost connection), per flood; empty when nothing. */
    floodErrors: string[];
    /** The fleet's publish → ack latency, batches published in the window. */
    latency: Latency;
    /** Fleet batches published in the window that had no ack when the run ended. */
    unacked: number;
  };
  fleet: FleetOutcome;
}

/**
 * Where the fleet's batches ended up, at the end: `published` (the broker acknowledged them), in the SQL
 * aggregates (counted per fleet device, so the rogues' admitted batches are not in it), dropped by the quota
 * (the fleet devices' own counters), and what the predictions queue still held (waiting + active) when the
 * bench stopped waiting. `unaccounted` is published − aggregated − dropped − still queued: lost, if above 0.
 */
interface FleetOutcome {
  published: number;
  aggregated: number;
  droppedByQuota: number;
  stillQueued: number;
  failedJobs: number;
  unaccounted: number;
  waitedSeconds: number;
}

/** The cloud as it runs by default (an over-quota device's connection held), and reading and dropping every message. */
interface Mode {
  key: 'read' | 'hold';
  title: string;
  /** EDGELOOP_QUOTA_HOLD_MAX_MS given to the cloud; undefined: its default. */
  holdMaxMs: number | undefined;
}
const MODES: readonly Mode[] = [
  { key: 'read', title: 'every flooded message read and dropped', holdMaxMs: 0 },
  { key: 'hold', title: 'over-quota connections held (the default)', holdMaxMs: undefined },
];

async function main(): Promise<void> {
  const root = repoRoot();
  const mainJs = path.resolve(__dirname, '..', '..', 'apps', 'cloud', 'src', 'main.js');
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'edgeloop-bench-quota-'));
  let redis: RedisServer | undefined;
  let s3: S3Server | undefined;
  let pg: PostgresDatabase | undefined;
  let cloud: BenchCloudWithBroker | undefined;
  const floods: Flood[] = [];
  const clients: MqttClient[] = [];
  const stop = stopOnSignal(async () => {
    await Promise.all(floods.map((f) => f.stop()));
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await cloud?.stop();
    await pg?.stop();
    await s3?.stop();
    await redis?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const measured: Array<{ mode: Mode; runs: Run[]; fleet: FleetOutcome }> = [];
  let rogueQuota: unknown;
  try {
    s3 = await startS3({ buckets: ['edgeloop'] });
    // each mode on a cloud of its own, with a Redis and a database of its own
    for (const mode of MODES) {
      out(`${mode.title} (EDGELOOP_QUOTA_HOLD_MAX_MS ${mode.holdMaxMs ?? 'unset: the default'})`);
      redis = await startRedis();
      if (process.env.DATABASE_URL) pg = await createIsolatedDatabase(process.env.DATABASE_URL);
      mkdirSync(path.join(workDir, mode.key));
      cloud = await startBenchCloud({
        mainJs,
        cwd: root,
        s3,
        redis,
        sql: pg ? { kind: 'postgres', url: pg.url } : { kind: 'memory' },
        tmpDir: path.join(workDir, mode.key),
        // the floods must last the window: no quarantine (every other setting is the cloud's default but the mode's)
        env: { EDGELOOP_QUARANTINE_STRIKES: '0', ...(mode.holdMaxMs === undefined ? {} : { EDGELOOP_QUOTA_HOLD_MAX_MS: String(mode.holdMaxMs) }) },
      });
      const cloudUrl = cloud.url;
      out(`cloud pid ${cloud.pid} on ${cloudUrl}, embedded broker ${cloud.mqttUrl}, SQL ${pg ? 'PostgreSQL' : 'PGlite'}`);
      const api = new ApiClient({ baseUrl: cloudUrl, token: cloud.adminToken });
      const provision = async (id: string, group: string) => {
        const created = await api.request<{ credentials: { mqtt: { password: string } } }>('POST', apiPaths.devices(), { id, name: id, group });
        return { id, password: created.credentials.mqtt.password };
      };
      const fleetDevices: Array<{ id: string; password: string }> = [];
      for (let i = 1; i <= settings.fleet; i++) fleetDevices.push(await provision(`fleet-${String(i).padStart(3, '0')}`, 'fleet'));
      const rogues: Array<{ id: string; password: string }> = [];
      for (let i = 1; i <= settings.rogues; i++) rogues.push(await provision(`rogue-${i}`, 'rogues'));
      const limits = await api.get<{ limits: { kinds: { predictions: { messagesPerSecond: number } } } }>(`${API_PREFIX}/devices/rogue-1/quota`);
      rogueQuota = limits.limits.kinds.predictions;
      // each fleet batch's publish (performance.now()), until the cloud's ack names it; then its latency
      const sentAt = new Map<string, number>();
      const fleetLatencies: Array<{ at: number; ms: number }> = [];
      for (const device of fleetDevices) {
        const client = await mqtt.connectAsync(cloud.mqttUrl, { clientId: device.id, username: device.id, password: device.password, reconnectPeriod: 1000 });
        client.on('error', () => undefined);
        client.on('message', (topic, payload) => {
          const now = performance.now();
          const ack = parseDeviceMessage('acks', payload);
          if (!ack.ok) return;
          for (const item of ack.value.acks) {
            if (item.kind !== 'predictions') continue;
            const key = `${device.id}|${item.seq}`;
            const at = sentAt.get(key);
            if (at === undefined) continue;
            sentAt.delete(key);
            fleetLatencies.push({ at, ms: now - at });
          }
        });
        await client.subscribeAsync(topics.acks(device.id), { qos: 1 });
        clients.push(client);
      }
      const latencyIn = (from: number, to: number) => summarizeWindow(fleetLatencies, from, to);
      const unackedIn = (from: number, to: number) => [...sentAt.values()].filter((at) => at >= from && at < to).length;

      // the fleet: a batch a second per device, spread over the second, from warm-up to the end
      let published = 0;
      let fleetOn = true;
      let fleetError: Error | undefined;
      const fleetDone = Promise.all(
        clients.map(async (client, i) => {
          const id = fleetDevices[i]!.id;
          await sleep((1000 * i) / clients.length);
          try {
            for (let seq = 1; fleetOn; seq++) {
              const started = performance.now();
              sentAt.set(`${id}|${seq}`, started);
              await client.publishAsync(topics.predictions(id), JSON.stringify(makeBatch(id, seq, model, STABLE, { frames: 5 })), { qos: 1 });
              published++;
              await sleep(Math.max(0, 1000 - (performance.now() - started)));
            }
          } catch (err) {
            fleetError ??= err as Error;
          }
        }),
      );
      await sleep(3000);

      const rogueLine = (id: string) => JSON.stringify(makeBatch(id, 1, model, STABLE, { frames: 2 })).replace(/"seq":1(?=[,}])/, '"seq":${n}');
      const runs: Run[] = [];
      for (let r = 1; r <= settings.runs; r++) {
        const loadBefore = os.loadavg()[0]!;
        const window = settings.windowSeconds * 1000;

        // (1) the raw broker: aedes in this process, one subscriber acknowledging every message
        const raw = await startEmbeddedBroker({});
        const subscriber = await mqtt.connectAsync(raw.url, { clientId: 'raw-subscriber', reconnectPeriod: 0 });
        await subscriber.subscribeAsync(topicFilters.predictions, { qos: 1 });
        let rawCount = 0;
        // the probe: a batch-sized message every 20 ms, timed from its publish to the subscriber's receipt
        const probeTopic = topics.predictions('probe-1');
        const probeSent = new Map<number, number>();
        const probeLatencies: Array<{ at: number; ms: number }> = [];
        subscriber.on('message', (topic, payload) => {
          rawCount++;
          if (topic !== probeTopic) return;
          const seq = (JSON.parse(payload.toString()) as { seq: number }).seq;
          const at = probeSent.get(seq);
          if (at !== undefined) probeLatencies.push({ at, ms: performance.now() - at });
        });
        const probe = await mqtt.connectAsync(raw.url, { clientId: 'probe-1', reconnectPeriod: 0 });
        let probing = true;
        const probeDone = (async () => {
          for (let seq = 1; probing; seq++) {
            const payload = JSON.stringify(makeBatch('probe-1', seq, model, STABLE, { frames: 5 }));
            probeSent.set(seq, performance.now());
            await probe.publishAsync(probeTopic, payload, { qos: 1 });
            await sleep(20);
          }
        })();
        const probeIdleFrom = performance.now();
        await sleep(2000);
        const probeIdleTo = performance.now();
        const rawFloods = rogues.map((rogue) => startFlood(raw.url, rogue, topics.predictions(rogue.id), rogueLine(rogue.id)));
        await sleep(1000);
        const rawStart = rawCount;
        const probeFloodFrom = performance.now();
        await sleep(window);
        const probeFloodTo = performance.now();
        const rawMessages = rawCount - rawStart;
        probing = false;
        await probeDone;
        await Promise.all(rawFloods.map((f) => f.stop()));
        await sleep(500);
        const probeIdle = summarizeWindow(probeLatencies, probeIdleFrom, probeIdleTo);
        const probeFlooded = summarizeWindow(probeLatencies, probeFloodFrom, probeFloodTo);
        await probe.endAsync(true);
        await subscriber.endAsync(true);
        await raw.stop();

        // (2) the cloud serving its fleet only (and /health every 100 ms, as in (3))
        let health = new HealthProbe(cloudUrl);
        health.start();
        let cpu0 = cpuSeconds(cloud.pid)!;
        const fleetOnlyFrom = performance.now();
        await sleep(window);
        const fleetOnlyTo = performance.now();
        const fleetOnlyCores = (cpuSeconds(cloud.pid)! - cpu0) / settings.windowSeconds;
        const fleetOnlyHealth = await health.stop();

        // (3) the cloud serving its fleet while the rogues flood
        floods.push(...rogues.map((rogue) => startFlood(cloud!.mqttUrl, rogue, topics.predictions(rogue.id), rogueLine(rogue.id))));
        await sleep(1000);
        const dropped0 = await droppedCount(cloudUrl);
        const received0 = (await scrapeIngest(cloudUrl)).received;
        cpu0 = cpuSeconds(cloud.pid)!;
        const floodFrom = performance.now();
        health = new HealthProbe(cloudUrl);
        health.start();
        await sleep(window);
        const floodTo = performance.now();
        const floodCpu = cpuSeconds(cloud.pid)! - cpu0;
        const rejected = (await droppedCount(cloudUrl)) - dropped0;
        const receivedByCloud = (await scrapeIngest(cloudUrl)).received - received0;
        const floodHealth = await health.stop();
        const floodErrors = floods.map((f) => f.errors());
        await Promise.all(floods.splice(0).map((f) => f.stop()));
        // the acks of the window's last batches (the cloud acks within a second when it keeps up)
        const ackDeadline = Date.now() + 5000;
        while (unackedIn(fleetOnlyFrom, floodTo) > 0 && Date.now() < ackDeadline) await sleep(100);
        const floodCores = floodCpu / settings.windowSeconds;
        const run: Run = {
          loadAverage: { before: round(loadBefore, 2), after: round(os.loadavg()[0]!, 2) },
          raw: { messages: rawMessages, perSecond: Math.round(rawMessages / settings.windowSeconds), probeIdle, probeFlooded },
          fleetOnly: {
            cloudCores: round(fleetOnlyCores, 3),
            latency: latencyIn(fleetOnlyFrom, fleetOnlyTo),
            healthMaxMs: fleetOnlyHealth.maxMs ?? NaN,
          },
          flood: {
            cloudCores: round(floodCores, 3),
            rejected,
            rejectedPerSecond: Math.round(rejected / settings.windowSeconds),
            cpuMicrosecondsPerRejected: rejected > 0 ? round((((floodCores - fleetOnlyCores) * settings.windowSeconds) / rejected) * 1e6, 1) : NaN,
            cpuMicrosecondsPerRejectedUpperBound: rejected > 0 ? round(((floodCores * settings.windowSeconds) / rejected) * 1e6, 1) : NaN,
            healthMaxMs: floodHealth.maxMs ?? NaN,
            healthAnswers: floodHealth.requests,
            receivedByCloud,
            floodErrors,
            latency: latencyIn(floodFrom, floodTo),
            unacked: unackedIn(floodFrom, floodTo),
          },
          fleet: { published: 0, aggregated: 0, droppedByQuota: 0, stillQueued: 0, failedJobs: 0, unaccounted: 0, waitedSeconds: 0 },
        };
        runs.push(run);
        out(
          `run ${r} (load ${run.loadAverage.before} → ${run.loadAverage.after}): raw broker ${run.raw.perSecond} msg/s; ` +
            `cloud rejected ${run.flood.rejectedPerSecond} msg/s at ${run.flood.cloudCores} cores (fleet only ${run.fleetOnly.cloudCores}), ` +
            `${run.flood.cpuMicrosecondsPerRejected} µs CPU per rejected message (at most ${run.flood.cpuMicrosecondsPerRejectedUpperBound}), /health max ${run.flood.healthMaxMs} ms of ${run.flood.healthAnswers} (fleet only ${run.fleetOnly.healthMaxMs}), ` +
            `${run.flood.receivedByCloud} messages reached the cloud's client${floodErrors.some((e) => e) ? `; mosquitto_pub said: ${floodErrors.join(' | ')}` : ''}`,
        );
        out(
          `  fleet publish → ack, ms: alone ${describe(run.fleetOnly.latency)}; flooded ${describe(run.flood.latency)}, ${run.flood.unacked} unacked; ` +
            `raw broker probe publish → receipt, ms: idle ${describe(probeIdle)}; flooded ${describe(probeFlooded)}`,
        );
      }

      // the fleet lost nothing: every batch it published is in the aggregates
      fleetOn = false;
      await fleetDone;
      if (fleetError) throw new Error(`a fleet device could not publish: ${fleetError.message}`);
      // the fleet lost nothing: every batch it published is in the SQL aggregates (the ingest may be behind: wait)
      const waitStarted = Date.now();
      const deadline = waitStarted + 180_000;
      let aggregated = 0;
      let scrape = await scrapeIngest(cloudUrl);
      while (Date.now() < deadline) {
        aggregated = await fleetAggregated(api, fleetDevices);
        scrape = await scrapeIngest(cloudUrl);
        if (aggregated >= published || scrape.waiting + scrape.active === 0) break;
        await sleep(2000);
      }
      let droppedByQuota = 0;
      for (const device of fleetDevices) {
        droppedByQuota += (await api.get<{ quota: { dropped: { predictions: number } } }>(`${API_PREFIX}/devices/${device.id}`)).quota.dropped.predictions;
      }
      const stillQueued = scrape.waiting + scrape.active;
      const fleet: FleetOutcome = {
        published,
        aggregated,
        droppedByQuota,
        stillQueued,
        failedJobs: scrape.failed,
        unaccounted: Math.max(0, published - aggregated - droppedByQuota - stillQueued),
        waitedSeconds: Math.round((Date.now() - waitStarted) / 1000),
      };
      for (const run of runs) run.fleet = fleet;
      out(
        `fleet: ${published} batches published, ${aggregated} in the aggregates, ${droppedByQuota} dropped by its quota, ` +
          `${stillQueued} jobs still in the predictions queue and ${scrape.failed} failed after ${fleet.waitedSeconds} s`,
      );
      measured.push({ mode, runs, fleet });
      await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
      await cloud.stop();
      cloud = undefined;
      await pg?.stop();
      pg = undefined;
      await redis.stop();
      redis = undefined;
    }

    const range = (values: number[]) => (values.some((v) => Number.isNaN(v)) ? `${values.join(', ')}` : `${Math.min(...values)}–${Math.max(...values)}`);
    const ratio = (a: number, b: number) => round(a / b, 2);
    for (const { mode, runs, fleet } of measured) {
      out('');
      out(
        `${mode.title}: over ${runs.length} runs (${settings.fleet} fleet devices at 1 batch/s, ${settings.rogues} floods, ${settings.windowSeconds} s windows)`,
      );
      out('| measure | range |');
      out('| --- | --- |');
      out(`| raw broker (aedes + 1 subscriber), msg/s | ${range(runs.map((r) => r.raw.perSecond))} |`);
      out(`| cloud rejects, msg/s | ${range(runs.map((r) => r.flood.rejectedPerSecond))} |`);
      out(`| cloud CPU per rejected message (flooded − fleet only), µs | ${range(runs.map((r) => r.flood.cpuMicrosecondsPerRejected))} |`);
      out(
        `| cloud CPU per rejected message, upper bound (all its CPU while flooded), µs | ${range(runs.map((r) => r.flood.cpuMicrosecondsPerRejectedUpperBound))} |`,
      );
      out(`| cloud cores, fleet only → fleet + floods | ${range(runs.map((r) => r.fleetOnly.cloudCores))} → ${range(runs.map((r) => r.flood.cloudCores))} |`);
      out(
        `| /health max, fleet only → fleet + floods, ms | ${range(runs.map((r) => r.fleetOnly.healthMaxMs))} → ${range(runs.map((r) => r.flood.healthMaxMs))} |`,
      );
      out(
        `| fleet publish → ack alone, p50 / p99 / max ms | ${range(runs.map((r) => r.fleetOnly.latency.p50))} / ${range(runs.map((r) => r.fleetOnly.latency.p99))} / ${range(runs.map((r) => r.fleetOnly.latency.max))} |`,
      );
      out(
        `| fleet publish → ack flooded, p50 / p99 / max ms | ${range(runs.map((r) => r.flood.latency.p50))} / ${range(runs.map((r) => r.flood.latency.p99))} / ${range(runs.map((r) => r.flood.latency.max))} |`,
      );
      out(
        `| fleet flooded / alone, p50 / p99 / max | ${range(runs.map((r) => ratio(r.flood.latency.p50, r.fleetOnly.latency.p50)))} / ${range(runs.map((r) => ratio(r.flood.latency.p99, r.fleetOnly.latency.p99)))} / ${range(runs.map((r) => ratio(r.flood.latency.max, r.fleetOnly.latency.max)))} |`,
      );
      out(
        `| raw broker probe flooded / idle, p50 / p99 / max | ${range(runs.map((r) => ratio(r.raw.probeFlooded.p50, r.raw.probeIdle.p50)))} / ${range(runs.map((r) => ratio(r.raw.probeFlooded.p99, r.raw.probeIdle.p99)))} / ${range(runs.map((r) => ratio(r.raw.probeFlooded.max, r.raw.probeIdle.max)))} |`,
      );
      out(`| load average (1 min) before each run | ${runs.map((r) => r.loadAverage.before).join(', ')} |`);
      out(
        `| fleet batches not in the aggregates after ${fleet.waitedSeconds} s | ${Math.max(0, fleet.published - fleet.aggregated)} of ${fleet.published}: ${fleet.droppedByQuota} dropped by quota, ${fleet.stillQueued} still queued, ${fleet.unaccounted} unaccounted |`,
      );
    }
    // what one cloud process can reject: every message read and dropped (no holds)
    const read = measured.find((m) => m.mode.key === 'read')!;
    const minRatio = Math.min(...read.runs.map((r) => r.flood.rejectedPerSecond / r.raw.perSecond));
    const met = minRatio >= 0.5 && measured.every((m) => m.fleet.aggregated >= m.fleet.published);
    // the fleet's latency under the floods against the fleet alone, as the cloud runs by default (holds)
    const held = measured.find((m) => m.mode.key === 'hold')!;
    const p99Ratios = held.runs.map((r) => ratio(r.flood.latency.p99, r.fleetOnly.latency.p99));
    const latencyMet = p99Ratios.every((x) => x <= 2) && held.runs.every((r) => r.flood.unacked === 0);
    out('');
    out(
      `target: reading and dropping every message, the cloud rejects at least half the raw broker's rate (worst run ${round(minRatio * 100, 0)} %) with no fleet batch lost — ${met ? 'met' : 'NOT met'}`,
    );
    out(
      `target: with holds (the default), the fleet's p99 publish → ack latency under the floods within 2x of the fleet alone's, every batch acked (per run ${p99Ratios.join(', ')}) — ${latencyMet ? 'met' : 'NOT met'}`,
    );
    const resultFile = path.join(root, 'bench', 'results', 'quota.json');
    writeResultsFile(resultFile, {
      bench: 'quota',
      at: new Date().toISOString(),
      settings,
      rogueQuota,
      sql: process.env.DATABASE_URL ? 'postgres' : 'pglite',
      cpus: os.cpus().length,
      // every message read and dropped (EDGELOOP_QUOTA_HOLD_MAX_MS=0): what one cloud process can reject
      runs: read.runs,
      // the default: an over-quota device's connection held
      held: { holdMaxMs: held.mode.holdMaxMs ?? 'default', runs: held.runs },
      target: { minRejectedShareOfRaw: round(minRatio, 3), met, heldFleetP99FloodedOverAlone: p99Ratios, latencyMet },
    });
    out(`wrote ${path.relative(root, resultFile)}`);
  } finally {
    await stop();
  }
}

/** Batches of the fleet in the SQL aggregates: its frames (5 a batch) summed over its devices' daily rows. */
async function fleetAggregated(api: ApiClient, devices: Array<{ id: string }>): Promise<number> {
  let frames = 0;
  for (const device of devices) {
    const body = await api.get<{ rows?: Array<{ frames: number }> }>(`${API_PREFIX}/metrics/predictions?device=${device.id}&bucket=day`);
    frames += (body.rows ?? []).reduce((n, r) => n + r.frames, 0);
  }
  return frames / 5;
}

/** The latencies of the samples taken from `from` to `to` (performance.now()). */
function summarizeWindow(samples: ReadonlyArray<{ at: number; ms: number }>, from: number, to: number): Latency {
  return summarize(samples.filter((l) => l.at >= from && l.at < to).map((l) => l.ms));
}

function summarize(values: number[]): Latency {
  return {
    count: values.length,
    p50: round(percentile(values, 50)),
    p95: round(percentile(values, 95)),
    p99: round(percentile(values, 99)),
    max: values.length === 0 ? NaN : round(Math.max(...values)),
  };
}

function describe(l: Latency): string {
  return `p50 ${l.p50}, p95 ${l.p95}, p99 ${l.p99}, max ${l.max} of ${l.count}`;
}

async function droppedCount(cloudUrl: string): Promise<number> {
  const text = await (await fetch(`${cloudUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('edgeloop_quota_checks{outcome="dropped"} '));
  return line ? Number(line.split(' ')[1]) : 0;
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
