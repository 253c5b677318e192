import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { round } from './report';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;
const SAMPLE_MS = 500;

export interface WatchedProcess {
  name: string;
  pid: number;
  /** Count the process alone, not its descendants (the bench's own process, whose children are the clouds). */
  alone?: boolean;
}

/** CPU of one process tree over a window, in % of one core (100 = one core busy throughout). */
export interface ProcessCpu {
  name: string;
  /** Mean over the window. */
  meanPercent: number;
  /** The busiest 1 s (two samples) of the window. */
  peakPercent: number;
  cpuSeconds: number;
}

interface Stat {
  ppid: number;
  /** utime + stime + the reaped children's cutime + cstime: continuous as a tree's processes come and go. */
  ticks: number;
  own: number;
}

/** utime + stime (+ reaped children's) and the parent of every process, read from /proc. */
function readAll(): Map<number, Stat> {
  const all = new Map<number, Stat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // the command may hold spaces and parentheses: fields start after the last ')'
      const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
      const own = Number(fields[11]) + Number(fields[12]);
      all.set(Number(entry), { ppid: Number(fields[1]), ticks: own + Number(fields[13]) + Number(fields[14]), own });
    } catch {
      // gone meanwhile
    }
  }
  return all;
}

/** A process's own ticks, without those of children it reaped. */
function ownTicks(stat: Stat | undefined): number {
  return stat?.own ?? 0;
}

/** CPU ticks of `pid` and all its descendants (PostgreSQL's backends, a wrapper's server). */
function treeTicks(all: Map<number, Stat>, pid: number): number {
  const children = new Map<number, number[]>();
  for (const [child, { ppid }] of all) children.set(ppid, [...(children.get(ppid) ?? []), child]);
  let ticks = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const next = stack.pop()!;
    ticks += all.get(next)?.ticks ?? 0;
    stack.push(...(children.get(next) ?? []));
  }
  return ticks;
}

/**
 * Samples the CPU of a few process trees every 500 ms during a window: which process is busy when a
 * rollout slows down (a single-threaded server at ~100 % is saturated; Node processes can pass 100 %
 * with their GC and I/O threads).
 */
export class ProcessCpuSampler {
  private samples: Array<{ at: number; ticks: number[] }> = [];
  private timer: NodeJS.Timeout | undefined;
  private processes: WatchedProcess[] = [];

  start(processes: WatchedProcess[]): void {
    this.processes = processes.filter((p) => p.pid > 0);
    this.samples = [];
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
  }

  stop(): ProcessCpu[] {
    clearInterval(this.timer);
    this.sample();
    const first = this.samples[0];
    const last = this.samples.at(-1)!;
    const windowS = (last.at - first.at) / 1000;
    return this.processes.map((p, i) => {
      let peak = 0;
      for (let k = 2; k < this.samples.length; k++) {
        const a = this.samples[k - 2];
        const b = this.samples[k];
        peak = Math.max(peak, (b.ticks[i] - a.ticks[i]) / TICKS_PER_SECOND / ((b.at - a.at) / 1000));
      }
      const cpuSeconds = (last.ticks[i] - first.ticks[i]) / TICKS_PER_SECOND;
      return {
        name: p.name,
        meanPercent: round((100 * cpuSeconds) / Math.max(windowS, 0.001)),
        peakPercent: round(100 * peak),
        cpuSeconds: round(cpuSeconds, 2),
      };
    });
  }

  private sample(): void {
    const all = readAll();
    this.samples.push({ at: performance.now(), ticks: this.processes.map((p) => (p.alone ? ownTicks(all.get(p.pid)) : treeTicks(all, p.pid))) });
  }
}
