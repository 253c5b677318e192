/**
 * Loaded into the cloud child with `--require` when the ingest benchmark profiles (BENCH_INGEST_PROFILE=1);
 * no cloud source changes. Between a `probe-start` and a `probe-stop` message on the IPC channel it records
 * a V8 CPU profile (node:inspector; written to the file `probe-stop` names), the wall time of the ingest
 * steps (MQTT dispatch, queue add, batch ingest and its SQL calls, drift sweeps), the main thread's
 * event-loop utilisation and the process's CPU time.
 */
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { addTo, cloudPrototype, statementKey, timeCalls, type TimedStat } from '../common/probe-timing';

const SAMPLING_INTERVAL_US = 1000;
/** `insert into prediction_batches (device_id, …` → one line of at most 90 characters. */
const STATEMENT_KEY_CHARS = 90;

export interface ProbeAnswer {
  type: 'probe-started' | 'probe-stopped' | 'probe-error';
  windowMs?: number;
  calls?: Record<string, TimedStat>;
  /** Every SQL statement, in a transaction or not, by its text: call to result (on PGlite, one runs at a time). */
  statements?: Record<string, TimedStat>;
  /** Share of the window the cloud's main thread was busy (event-loop utilisation). */
  eventLoopUtilization?: number;
  /** User + system CPU seconds of the whole process (main thread, GC and libuv threads) in the window. */
  cpuSeconds?: number;
  error?: string;
}

let recording = false;
let windowStart = 0;
let calls = new Map<string, TimedStat>();
let statements = new Map<string, TimedStat>();
let elu: EventLoopUtilization | undefined;
let cpu: NodeJS.CpuUsage | undefined;
const session = new Session();

type Executor = { query(text: string, params?: unknown[]): Promise<unknown[]> };

function timedQuery(target: Executor, original: Executor['query']): Executor['query'] {
  return function (text: string, params?: unknown[]) {
    if (!recording) return original.call(target, text, params);
    const started = performance.now();
    return original.call(target, text, params).finally(() => addTo(statements, statementKey(text, STATEMENT_KEY_CHARS), performance.now() - started));
  };
}

/** Times each call of a compiled cloud class's method under `key` while recording. */
function timeMethod(modulePath: string, className: string, method: string, key: string): void {
  timeCalls(cloudPrototype(modulePath, className), method, `${className}.${method}`, {
    recording: () => recording,
    ended: (ms) => addTo(calls, key, ms),
  });
}

timeMethod('mqtt/device-channel.js', 'DeviceChannel', 'dispatch', 'MQTT message: decode + handler (queue add), one at a time');
timeMethod('queues/predictions.queue.js', 'PredictionsQueue', 'addBatch', 'PredictionsQueue.addBatch (job into Redis)');
timeMethod('services/ingest.service.js', 'IngestService', 'ingestBatch', 'IngestService.ingestBatch (one SQL transaction, waits included)');
timeMethod('repositories/prediction.repository.js', 'PredictionRepository', 'putRawBatches', 'PredictionRepository.putRawBatches (one S3 object of a group\'s raw payloads)');
timeMethod('repositories/prediction.repository.js', 'PredictionRepository', 'recordBatches', 'PredictionRepository.recordBatches (dedupe insert of a group)');
timeMethod('repositories/prediction.repository.js', 'PredictionRepository', 'mergeAggregates', 'PredictionRepository.mergeAggregates (create, lock, parse, merge, update the rows of a group)');
timeMethod('repositories/prediction.repository.js', 'PredictionRepository', 'incrementCounter', 'PredictionRepository.incrementCounter');
timeMethod('database/sql-database.js', 'SqlDatabase', 'transaction', 'SqlDatabase.transaction (all callers, waits included)');
timeMethod('services/drift.service.js', 'DriftService', 'sweep', 'DriftService.sweep');

/** Statements through `SqlDatabase.query` and through the executor a transaction hands its work. */
function timeStatements(): void {
  const proto = cloudPrototype('database/sql-database.js', 'SqlDatabase');
  const query = proto.query as Executor['query'];
  proto.query = function (this: Executor, text: string, params?: unknown[]) {
    return timedQuery(this, query)(text, params);
  };
  const transaction = proto.transaction as (work: (tx: Executor) => Promise<unknown>) => Promise<unknown>;
  proto.transaction = function (this: unknown, work: (tx: Executor) => Promise<unknown>) {
    return transaction.call(this, (tx: Executor) => work({ query: timedQuery(tx, tx.query) }));
  };
}

timeStatements();

function post(message: ProbeAnswer): void {
  process.send?.(message);
}

process.on('message', (message: { type?: string; file?: string }) => {
  if (message?.type === 'probe-start') {
    session.connect();
    session.post('Profiler.enable', () =>
      session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US }, () =>
        session.post('Profiler.start', (err) => {
          if (err) return post({ type: 'probe-error', error: err.message });
          calls = new Map();
          statements = new Map();
          elu = performance.eventLoopUtilization();
          cpu = process.cpuUsage();
          windowStart = performance.now();
          recording = true;
          post({ type: 'probe-started' });
        }),
      ),
    );
  } else if (message?.type === 'probe-stop' && message.file) {
    recording = false;
    const windowMs = performance.now() - windowStart;
    const utilization = performance.eventLoopUtilization(elu).utilization;
    const used = process.cpuUsage(cpu);
    session.post('Profiler.stop', (err, result) => {
      if (err) return post({ type: 'probe-error', error: err.message });
      writeFileSync(message.file!, JSON.stringify(result.profile));
      session.disconnect();
      post({
        type: 'probe-stopped',
        windowMs,
        calls: Object.fromEntries(calls),
        statements: Object.fromEntries(statements),
        eventLoopUtilization: utilization,
        cpuSeconds: (used.user + used.system) / 1e6,
      });
    });
  }
});
// the IPC channel must not keep the cloud alive when it is told to stop
process.channel?.unref();
