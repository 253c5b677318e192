/**
 * Loaded into the cloud child with `--require` (no cloud source changes): between a `probe-start` and a
 * `probe-stop` message on the IPC channel it records
 * - when asked, a V8 CPU profile (node:inspector), written to the file named by `probe-stop`;
 * - every SQL statement through `SqlDatabase`, inside a transaction or not: count, own execution time and
 *   time spent waiting behind other statements; every transaction, by the cloud method that opened it;
 * - the wall time of the rollout service's steps, the repositories' calls, signing, the queue and the
 *   MQTT channel (calls that overlap are each timed whole);
 * - each rollout tick (`RolloutService.advance`): wall-clock start, duration, statements, ticks in flight;
 * - the event-loop delay.
 * Outside a window the wrappers only test a flag.
 */
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { addTo, cloudPrototype, statementKey, timeCalls, type CallTimer, type TimedStat } from '../common/probe-timing';

const SAMPLING_INTERVAL_US = 500;
const STATEMENT_KEY_CHARS = 110;

export interface TickRecord {
  /** Wall clock (ms since the epoch, fractional), comparable with the bench's. */
  startedAt: number;
  ms: number;
  /** Statements run in transactions meanwhile: the tick's own (PGlite runs one transaction at a time). */
  statements: number;
}

export interface ProbeMessage {
  type: 'probe-started' | 'probe-stopped' | 'probe-error';
  windowMs?: number;
  /** Own execution of each statement (see `timedQuery`) … */
  statements?: Record<string, TimedStat>;
  /** … and its wait behind the statements before it. */
  statementWaits?: Record<string, TimedStat>;
  /** By the cloud method that opened them, from BEGIN to the end … */
  transactions?: Record<string, TimedStat>;
  /** … and how many times a `heartbeatMs` timer ran meanwhile (none: the event loop was blocked throughout). */
  transactionHeartbeats?: Record<string, number>;
  heartbeatMs?: number;
  calls?: Record<string, TimedStat>;
  ticks?: TickRecord[];
  /** Most `RolloutService.advance` calls running at once (the BullMQ worker runs up to 4 jobs). */
  maxTicksInFlight?: number;
  eventLoopDelayMs?: { p50: number; p99: number; max: number };
  error?: string;
}

let recording = false;
let windowStart = 0;
let statements = new Map<string, TimedStat>();
let statementWaits = new Map<string, TimedStat>();
let calls = new Map<string, TimedStat>();
let transactions = new Map<string, TimedStat>();
/** A timer ticks every HEARTBEAT_MS while recording; how often it ran while transactions were open shows whether they block the event loop. */
const HEARTBEAT_MS = 5;
let heartbeats = 0;
let heartbeatTimer: NodeJS.Timeout | undefined;
let transactionHeartbeats = new Map<string, number>();
let ticks: TickRecord[] = [];
let ticksInFlight = 0;
let maxTicksInFlight = 0;
/** Statements run inside transactions so far (ticks are transactions, and PGlite runs one at a time). */
let statementCounter = 0;
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
const session = new Session();

type Executor = { query(text: string, params?: unknown[]): Promise<unknown[]> };

/** Times each call of `proto[name]` under `key` while recording; `around` also sees each call begin and end. */
function timeMethod<State>(proto: Record<string, unknown>, name: string, key: string, around?: { before(): State; after(state: State): void }): void {
  const timer: CallTimer<State> = {
    recording: () => recording,
    started: around?.before,
    ended: (ms, state) => {
      addTo(calls, key, ms);
      around?.after(state);
    },
  };
  timeCalls(proto, name, key, timer);
}

/**
 * PGlite executes one statement at a time, in order: a statement's own execution is the time from
 * when it started or the previous statement ended, whichever is later, to its end; the rest of its
 * wall time is waiting behind other statements.
 */
let lastStatementEnd = 0;

function timedQuery(where: 'in a transaction' | 'outside a transaction', run: (text: string, params?: unknown[]) => Promise<unknown[]>) {
  return async (text: string, params?: unknown[]) => {
    if (!recording) return run(text, params);
    if (where === 'in a transaction') statementCounter++;
    const started = performance.now();
    try {
      return await run(text, params);
    } finally {
      const ended = performance.now();
      const key = `${where}: ${statementKey(text, STATEMENT_KEY_CHARS)}`;
      addTo(statements, key, ended - Math.max(started, lastStatementEnd));
      addTo(statementWaits, key, Math.max(0, Math.min(ended, lastStatementEnd) - started));
      lastStatementEnd = ended;
    }
  };
}

/** `RolloutService.create` for a transaction opened there: the first cloud class method on the stack. */
function callerOf(stack = ''): string {
  return /at (?:async )?((?:Rollout|Device|Registry|ModelUpload|Token)\w*\.\w+)/.exec(stack)?.[1] ?? 'other';
}

/** Timed methods, by compiled module under dist/apps/cloud/src and class. */
const TIMED: Array<[module: string, className: string, methods: string[]]> = [
  ['services/rollout.service.js', 'RolloutService', ['create', 'get', 'prepareWave', 'publish', 'publishUnsent', 'observeDevices', 'step', 'toResponse']],
  ['repositories/device.repository.js', 'DeviceRepository', ['get', 'list', 'resolveTarget', 'setReported', 'setPresence']],
  ['repositories/deployment.repository.js', 'DeploymentRepository', ['insert', 'devices', 'saveDesired', 'setDevicePhase', 'claimUnsent']],
  ['repositories/manifest-signer.js', 'ManifestSigner', ['sign']],
  ['repositories/audit.repository.js', 'AuditRepository', ['record']],
  ['queues/rollout.queue.js', 'RolloutQueue', ['schedule', 'unschedule']],
  ['mqtt/device-channel.js', 'DeviceChannel', ['dispatch', 'publishDesired']],
];

function instrumentCloud(): void {
  const db = cloudPrototype('database/sql-database.js', 'SqlDatabase');
  const query = db.query as (this: Executor, text: string, params?: unknown[]) => Promise<unknown[]>;
  db.query = function (this: Executor, text: string, params?: unknown[]) {
    return timedQuery('outside a transaction', (t, p) => query.call(this, t, p))(text, params);
  };
  const transaction = db.transaction as (this: unknown, work: (tx: Executor) => Promise<unknown>) => Promise<unknown>;
  db.transaction = function (this: unknown, work: (tx: Executor) => Promise<unknown>) {
    if (!recording) return transaction.call(this, work);
    const caller = callerOf(new Error().stack);
    // timed from BEGIN (not from the call, which may wait for the database) to COMMIT or ROLLBACK
    return transaction.call(this, async (tx: Executor) => {
      const started = performance.now();
      const beatsBefore = heartbeats;
      try {
        return await work({ query: timedQuery('in a transaction', (t, p) => tx.query(t, p)) });
      } finally {
        addTo(transactions, caller, performance.now() - started);
        transactionHeartbeats.set(caller, (transactionHeartbeats.get(caller) ?? 0) + heartbeats - beatsBefore);
      }
    });
  };

  timeMethod(cloudPrototype('services/rollout.service.js', 'RolloutService'), 'advance', 'RolloutService.advance', {
    before: () => {
      maxTicksInFlight = Math.max(maxTicksInFlight, ++ticksInFlight);
      return { startedAt: performance.timeOrigin + performance.now(), statements: statementCounter };
    },
    after: (begun) => {
      ticksInFlight--;
      ticks.push({ startedAt: begun.startedAt, ms: performance.timeOrigin + performance.now() - begun.startedAt, statements: statementCounter - begun.statements });
    },
  });
  for (const [module, className, methods] of TIMED) {
    const proto = cloudPrototype(module, className);
    for (const method of methods) timeMethod(proto, method, `${className}.${method}`);
  }
}

function post(session: Session, method: string, params: object = {}): Promise<any> {
  return new Promise((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))));
}

let profiling = false;

async function start(cpuProfile: boolean): Promise<ProbeMessage> {
  if (cpuProfile) {
    session.connect();
    await post(session, 'Profiler.enable');
    await post(session, 'Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
    await post(session, 'Profiler.start');
  }
  profiling = cpuProfile;
  statements = new Map();
  statementWaits = new Map();
  lastStatementEnd = 0;
  calls = new Map();
  transactions = new Map();
  transactionHeartbeats = new Map();
  heartbeatTimer = setInterval(() => heartbeats++, HEARTBEAT_MS);
  heartbeatTimer.unref();
  ticks = [];
  maxTicksInFlight = ticksInFlight;
  loopDelay.reset();
  loopDelay.enable();
  windowStart = performance.now();
  recording = true;
  return { type: 'probe-started' };
}

async function stop(file: string | undefined): Promise<ProbeMessage> {
  recording = false;
  clearInterval(heartbeatTimer);
  const windowMs = performance.now() - windowStart;
  loopDelay.disable();
  if (profiling) {
    const { profile } = await post(session, 'Profiler.stop');
    session.disconnect();
    if (file) writeFileSync(file, JSON.stringify(profile));
    profiling = false;
  }
  const ms = (ns: number) => Math.round(ns / 1e5) / 10;
  return {
    type: 'probe-stopped',
    windowMs,
    statements: Object.fromEntries(statements),
    statementWaits: Object.fromEntries(statementWaits),
    transactions: Object.fromEntries(transactions),
    transactionHeartbeats: Object.fromEntries(transactionHeartbeats),
    heartbeatMs: HEARTBEAT_MS,
    calls: Object.fromEntries(calls),
    ticks,
    maxTicksInFlight,
    eventLoopDelayMs: { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) },
  };
}

if (process.send) {
  instrumentCloud();
  process.on('message', (message: { type?: string; cpuProfile?: boolean; file?: string }) => {
    const work = message.type === 'probe-start' ? start(message.cpuProfile === true) : message.type === 'probe-stop' ? stop(message.file) : undefined;
    work?.then(
      (answer) => process.send?.(answer),
      (err: Error) => process.send?.({ type: 'probe-error', error: err.message } satisfies ProbeMessage),
    );
  });
  // the IPC channel must not keep the cloud alive once Nest has shut down
  process.channel?.unref();
}
