/**
 * How late a 20 ms timer on the bench's main thread — the cloud's event loop, since the cloud runs in this
 * process — fired: a late tick is time the loop could answer nothing (synchronous work on it, or the
 * thread not getting a core on a loaded machine).
 */
import { performance } from 'node:perf_hooks';

const TICK_MS = 20;
/** Ticks later than this are kept, with the time they fired. */
const KEEP_LATE_MS = 30;
/** Ticks later than this count as time the loop was held (`heldMs`). */
const HELD_LATE_MS = 50;

export interface LoopLag {
  /**
   * Epoch ms at which the late tick fired, how late it was, and the monotonic clock then in µs (the clock of a
   * V8 CPU profile's timestamps, to find the samples of the stall).
   */
  late: Array<{ at: number; ms: number; monoUs: number }>;
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
}

export function startLoopLag(): { stop(): LoopLag } {
  const late: LoopLag['late'] = [];
  let ticks = 0;
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
      return { late, ticks };
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
  };
}
