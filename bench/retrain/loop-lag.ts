/**
 * How late a 20 ms timer on the bench's main thread — the cloud's event loop, since the cloud runs in this
 * process — fired: a late tick is time the loop could answer nothing (synchronous work on it, or the
 * thread not getting a core on a loaded machine).
 */
import { describeGc } from '@edgeloop/harness';
import { readdirSync, readFileSync } from 'node:fs';
import { performance, PerformanceObserver } from 'node:perf_hooks';

const TICK_MS = 20;
/** Ticks later than this are kept, with the time they fired. */
const KEEP_LATE_MS = 30;
/** Garbage-collection pauses of the main thread at least this long are kept (and every one for external memory). */
const KEEP_GC_MS = 5;
/** Ticks later than this count as time the loop was held (`heldMs`). */
const HELD_LATE_MS = 50;

export interface LoopLag {
  /**
   * Epoch ms at which the late tick fired, how late it was, and the monotonic clock then in µs (the clock of a
   * V8 CPU profile's timestamps, to find the samples of the stall). With the kernel's scheduler statistics (Linux):
   * how much of the tick the main thread ran on a core (`cpuMs`: work on the loop) and how long it was runnable but
   * waited for one (`waitMs`: a busy machine), since the tick before.
   */
  late: Array<{ at: number; ms: number; monoUs: number; cpuMs?: number; waitMs?: number; threads?: ThreadCpu[]; machineBusyPct?: number }>;
  /** The main thread's garbage-collection pauses of at least 5 ms: epoch ms at which each started, its length and kind. */
  gc: Array<{ at: number; ms: number; kind: string; external: boolean }>;
  ticks: number;
}

export interface LoopLagSummary {
  ticks: number;
  maxMs: number;
  /** Ticks more than 100 ms late. */
  over100Ms: number;
  /** Ticks more than 30 ms late. */
  over30Ms: number;
  /** Sum of the lateness of ticks more than 50 ms late: time the loop was held, roughly. */
  heldMs: number;
  /** The longest garbage-collection pause of the main thread, and the sum of those of at least 5 ms. */
  gcMaxMs: number;
  gcMs: number;
  /** Full collections V8 started for external (ArrayBuffer) memory pressure, and the longest of their pauses. */
  externalGcs: number;
  externalGcMaxMs: number;
}

/** The main thread's own scheduler statistics (its thread id is the process id). */
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;

/** On-CPU and run-queue wait time of the main thread so far, in ns; null where the kernel does not say. */
function mainThreadSchedstat(): { cpuNs: number; waitNs: number } | null {
  try {
    const [cpu, wait] = readFileSync(SCHEDSTAT, 'utf8').split(' ').map(Number);
    return Number.isFinite(cpu) && Number.isFinite(wait) ? { cpuNs: cpu!, waitNs: wait! } : null;
  } catch {
    return null;
  }
}

/** A thread of this process and the CPU it used over one late tick's span. */
export interface ThreadCpu {
  tid: number;
  name: string;
  cpuMs: number;
}

/**
 * With BENCH_RETRAIN_THREADS=1, every tick also reads the on-CPU time of each of this process's threads and the
 * machine's busy time (/proc/stat), so that a late tick says which threads had the cores meanwhile (training thread,
 * V8's helper threads, the SQL thread) and whether both cores were busy. About a dozen small reads a tick.
 */
class ThreadSampler {
  private last = new Map<number, number>();
  private names = new Map<number, string>();
  private lastMachine: { busy: number; total: number } | null = null;

  sample(): { threads: ThreadCpu[]; machineBusyPct?: number } {
    const threads: ThreadCpu[] = [];
    const seen = new Map<number, number>();
    let tids: string[] = [];
    try {
      tids = readdirSync('/proc/self/task');
    } catch {
      return { threads };
    }
    for (const t of tids) {
      const tid = Number(t);
      try {
        const cpuNs = Number(readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ')[0]);
        if (!this.names.has(tid)) this.names.set(tid, readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim());
        seen.set(tid, cpuNs);
        const before = this.last.get(tid);
        const cpuMs = before === undefined ? 0 : Math.round((cpuNs - before) / 1e6);
        if (cpuMs >= 2) threads.push({ tid, name: this.names.get(tid)!, cpuMs });
      } catch {
        // the thread ended between the listing and the read
      }
    }
    this.last = seen;
    threads.sort((a, b) => b.cpuMs - a.cpuMs);
    const machine = machineTimes();
    const previous = this.lastMachine;
    this.lastMachine = machine;
    return {
      threads,
      ...(machine && previous && machine.total > previous.total
        ? { machineBusyPct: Math.round((100 * (machine.busy - previous.busy)) / (machine.total - previous.total)) }
        : {}),
    };
  }
}

/** The machine's busy and total CPU time (every core) so far, in clock ticks: /proc/stat's first line. */
function machineTimes(): { busy: number; total: number } | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((s, v) => s + v, 0);
    // idle and iowait are not busy
    return { busy: total - (fields[3] ?? 0) - (fields[4] ?? 0), total };
  } catch {
    return null;
  }
}

export function startLoopLag(): { stop(): LoopLag } {
  const threadSampler = process.env.BENCH_RETRAIN_THREADS === '1' ? new ThreadSampler() : null;
  const late: LoopLag['late'] = [];
  let ticks = 0;
  const gc: LoopLag['gc'] = [];
  // V8 reports each pause of this isolate (the other threads' own heaps are not in it)
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const { label, external } = describeGc(entry);
      // every collection for external memory is kept (counted), the others from KEEP_GC_MS
      if (entry.duration >= KEEP_GC_MS || external)
        gc.push({ at: performance.timeOrigin + entry.startTime, ms: Math.round(entry.duration * 10) / 10, kind: label, external });
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  let last = performance.now();
  let lastSched = mainThreadSchedstat();
  const timer = setInterval(() => {
    const now = performance.now();
    const sched = mainThreadSchedstat();
    const perThread = threadSampler?.sample();
    const lag = now - last - TICK_MS;
    last = now;
    ticks++;
    if (lag > KEEP_LATE_MS) {
      const split =
        sched && lastSched ? { cpuMs: Math.round((sched.cpuNs - lastSched.cpuNs) / 1e6), waitMs: Math.round((sched.waitNs - lastSched.waitNs) / 1e6) } : {};
      late.push({ at: Date.now(), ms: Math.round(lag), monoUs: Number(process.hrtime.bigint() / 1000n), ...split, ...(perThread ?? {}) });
    }
    lastSched = sched;
  }, TICK_MS);
  return {
    stop() {
      clearInterval(timer);
      observer.disconnect();
      return { late, gc, ticks };
    },
  };
}

export function summariseLoopLag(lag: LoopLag): LoopLagSummary {
  return {
    ticks: lag.ticks,
    maxMs: lag.late.reduce((m, l) => Math.max(m, l.ms), 0),
    over100Ms: lag.late.filter((l) => l.ms > 100).length,
    over30Ms: lag.late.length,
    heldMs: lag.late.filter((l) => l.ms > HELD_LATE_MS).reduce((s, l) => s + l.ms, 0),
    gcMaxMs: lag.gc.reduce((m, g) => Math.max(m, g.ms), 0),
    gcMs: Math.round(lag.gc.reduce((s, g) => s + g.ms, 0)),
    externalGcs: lag.gc.filter((g) => g.external).length,
    externalGcMaxMs: lag.gc.filter((g) => g.external).reduce((m, g) => Math.max(m, g.ms), 0),
  };
}
