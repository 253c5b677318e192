import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { CpuProfile } from '../common/cpu-profile';
import { askProbeHook } from '../common/probe-channel';
import type { TimedStat } from '../common/probe-timing';
import { median } from '../common/stats';
import type { ProbeMessage } from './cloud-probe-hook';
import { summariseCpuProfile, type CpuSummary } from './cpu-profile';
import { round } from './report';

const TOP_STATEMENTS = 8;

export interface TimedSummary {
  what: string;
  count: number;
  totalMs: number;
  meanMs: number;
  maxMs: number;
  /** SQL statements only: time spent queued behind other statements. */
  waitedMs?: number;
  /** Transactions only: times the cloud's event loop ran a 5 ms timer while they were open (a free loop: ~totalMs / 5). */
  heartbeats?: number;
}

/** Where the cloud spent one convergence run; times in ms, instants from the POST answer. */
export interface CloudBreakdown {
  create: {
    /** `RolloutService.create`: the whole POST but routing and JSON. */
    ms: number;
    /** Its SQL transaction: targets, previous versions, rows, signing, desired states saved. */
    transactionMs: number;
    /** The longest publishing of desired states (by the tick that took the wave, after the POST answer; pipelined, each to its PUBACK). */
    publishMs: number;
  };
  /** Times a 5 ms timer ran in the cloud while the create transaction / the tick transactions were open (0: the event loop was blocked throughout). */
  loopHeartbeatsDuring: { createTransaction: number; tickTransactions: number };
  ticks: {
    count: number;
    firstStartMs: number | null;
    medianMs: number;
    maxMs: number;
    /** Most ticks of the deployment running at once. */
    maxInFlight: number;
    /** Statements of the median tick. */
    statementsMedian: number;
  };
  /** Device messages (reported state, status) the cloud's MQTT channel handled, one at a time. */
  reports: { handled: number; totalMs: number; meanMs: number };
  sql: { statements: number; executionMs: number };
  eventLoopDelayMs: { p50: number; p99: number; max: number };
}

/** The full record of one probed window: every timed call, the costliest statements, the transactions, the CPU profile. */
export interface CloudDetail {
  windowMs: number;
  calls: TimedSummary[];
  /** Own execution time (PGlite runs one statement at a time), by statement. */
  statements: { count: number; totalMs: number; top: TimedSummary[] };
  /** By the cloud method that opened them. */
  transactions: TimedSummary[];
  cpu: CpuSummary | null;
}

export interface ProbeResult {
  message: ProbeMessage;
  cpu: CpuSummary | null;
}

/**
 * Drives `cloud-probe-hook` in the cloud child over IPC: `start` before a convergence run, `stop` after
 * it; optionally with a CPU profile, which it reads back and summarises.
 */
export class CloudProbe {
  readonly preload = path.join(__dirname, 'cloud-probe-hook.js');
  private child: ChildProcess | undefined;
  private profiles = 0;
  private cpuProfile = false;

  /** `profileDir` keeps the `.cpuprofile` files. */
  constructor(private readonly profileDir: string) {}

  attach(child: ChildProcess): void {
    this.child = child;
  }

  async start(options: { cpuProfile: boolean }): Promise<void> {
    this.cpuProfile = options.cpuProfile;
    await askProbeHook<ProbeMessage>(this.child, { type: 'probe-start', cpuProfile: options.cpuProfile }, 'probe-started');
  }

  async stop(): Promise<ProbeResult> {
    let file: string | undefined;
    if (this.cpuProfile) {
      mkdirSync(this.profileDir, { recursive: true });
      file = path.join(this.profileDir, `cloud-${++this.profiles}.cpuprofile`);
    }
    const message = await askProbeHook<ProbeMessage>(this.child, { type: 'probe-stop', file }, 'probe-stopped');
    const cpu = file ? summariseCpuProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile) : null;
    return { message, cpu };
  }
}

const NONE: TimedStat = { count: 0, totalMs: 0, maxMs: 0 };

/** The run's cloud-side figures, with instants relative to `answeredAt` (the POST answer, wall clock). */
export function breakdown(message: ProbeMessage, answeredAt: number): CloudBreakdown {
  const call = (key: string) => message.calls?.[key] ?? NONE;
  const ticks = message.ticks ?? [];
  const statements = Object.values(message.statements ?? {});
  const dispatch = call('DeviceChannel.dispatch');
  return {
    create: {
      ms: round(call('RolloutService.create').totalMs),
      transactionMs: round(message.transactions?.['RolloutService.create']?.totalMs ?? NaN),
      // the tick that took the wave publishes it; the other ticks publish nothing for `all`
      publishMs: round(call('RolloutService.publish').maxMs),
    },
    loopHeartbeatsDuring: {
      createTransaction: message.transactionHeartbeats?.['RolloutService.create'] ?? 0,
      tickTransactions: message.transactionHeartbeats?.['RolloutService.advance'] ?? 0,
    },
    ticks: {
      count: ticks.length,
      firstStartMs: ticks.length ? round(Math.min(...ticks.map((t) => t.startedAt)) - answeredAt) : null,
      medianMs: round(median(ticks.map((t) => t.ms))),
      maxMs: round(Math.max(0, ...ticks.map((t) => t.ms))),
      maxInFlight: message.maxTicksInFlight ?? 0,
      statementsMedian: round(median(ticks.map((t) => t.statements))),
    },
    reports: { handled: dispatch.count, totalMs: round(dispatch.totalMs), meanMs: round(dispatch.totalMs / Math.max(1, dispatch.count), 2) },
    sql: { statements: statements.reduce((n, s) => n + s.count, 0), executionMs: round(statements.reduce((n, s) => n + s.totalMs, 0)) },
    eventLoopDelayMs: message.eventLoopDelayMs ?? { p50: NaN, p99: NaN, max: NaN },
  };
}

export function detail(result: ProbeResult): CloudDetail {
  const { message } = result;
  const timed = (what: string, s: TimedStat): TimedSummary => ({
    what,
    count: s.count,
    totalMs: round(s.totalMs),
    meanMs: round(s.totalMs / Math.max(1, s.count), 2),
    maxMs: round(s.maxMs, 1),
  });
  const statements = Object.entries(message.statements ?? {}).map(([sql, s]) => ({ ...timed(sql, s), waitedMs: round(message.statementWaits?.[sql]?.totalMs ?? 0) }));
  return {
    windowMs: round(message.windowMs ?? NaN),
    calls: Object.entries(message.calls ?? {})
      .map(([what, s]) => timed(what, s))
      .sort((a, b) => b.totalMs - a.totalMs),
    statements: {
      count: statements.reduce((n, s) => n + s.count, 0),
      totalMs: round(statements.reduce((n, s) => n + s.totalMs, 0)),
      top: statements.sort((a, b) => b.totalMs - a.totalMs).slice(0, TOP_STATEMENTS),
    },
    transactions: Object.entries(message.transactions ?? {}).map(([caller, s]) => ({ ...timed(caller, s), heartbeats: message.transactionHeartbeats?.[caller] ?? 0 })),
    cpu: result.cpu,
  };
}
