import { PerformanceObserver } from 'node:perf_hooks';
// the file itself, not the harness's index: that loads the embedded servers (18 MB of heap), too much for a steady
// device's process that is there to time what the cloud does
import { describeGc } from '../../../../libs/harness/src/gc-entries';

/** What `watchLoop` saw of this process's event loop, on the clock it was given. */
export interface LoopWatch {
  /** Each time a 5 ms timer ran more than 15 ms late: [when, ms late]. */
  readonly stalls: Array<[number, number]>;
  /** Each garbage collection over 5 ms: [when it started, ms, kind]. */
  readonly gcs: Array<[number, number, string]>;
  stop(): void;
}

/**
 * Watches this process's event loop for a test's trace: a 5 ms timer run more than 15 ms late (a mark taken then is late
 * by as much) and garbage collections over 5 ms. Times are on performance.now()'s clock, or on `clock(t)` of it
 * (`(t) => performance.timeOrigin + t`: epoch ms, to line up with another process).
 */
export function watchLoop(clock: (t: number) => number = (t) => t): LoopWatch {
  const stalls: Array<[number, number]> = [];
  const gcs: Array<[number, number, string]> = [];
  let expected = performance.now() + 5;
  const sampler = setInterval(() => {
    const now = performance.now();
    if (now - expected > 15) stalls.push([clock(now), now - expected]);
    expected = now + 5;
  }, 5);
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if (entry.duration > 5) gcs.push([clock(entry.startTime), entry.duration, describeGc(entry).label]);
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    stalls,
    gcs,
    stop() {
      clearInterval(sampler);
      observer.disconnect();
    },
  };
}
