/**
 * How late a 20 ms timer on the bench's main thread — the cloud's event loop, since the cloud runs in this
 * process — fired: a late tick is time the loop could answer nothing (synchronous work on it, or the
 * thread not getting a core on a loaded machine).
 */
import { describeGc } from '@edgeloop/harness';
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
   * V8 CPU profile's timestamps, to find the samples of the stall).
   */
  late: Array<{ at: number; ms: number; monoUs: number }>;
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

export function startLoopLag(): { stop(): LoopLag } {
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
  const timer = setInterval(() => {
    const now = performance.now();
    const lag = now - last - TICK_MS;
    last = now;
    ticks++;
    if (lag > KEEP_LATE_MS) late.push({ at: Date.now(), ms: Math.round(lag), monoUs: Number(process.hrtime.bigint() / 1000n) });
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
