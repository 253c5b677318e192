import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** State, parent and CPU ticks (user + system) of a process, from /proc; null when it is gone. */
function procStat(pid: number): { ppid: number; ticks: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name (which may contain spaces): state, ppid, …, utime (11), stime (12)
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return null;
  }
}

/**
 * CPU seconds (user + system) a process has used so far; with `children`, plus its direct children's
 * (PostgreSQL's backends are children of the postmaster). Null when it is gone.
 */
export function cpuSeconds(pid: number | undefined, children = false): number | null {
  if (pid === undefined) return null;
  const own = procStat(pid);
  if (!own) return null;
  let ticks = own.ticks;
  if (children) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = procStat(Number(entry));
      if (stat?.ppid === pid) ticks += stat.ticks;
    }
  }
  return ticks / CLOCK_TICKS;
}

/** USER_HZ: 100 on every Linux this bench runs on. */
const CLOCK_TICKS = 100;

/** CPU used by each named process between `start()` and `stop()`, as cores busy on average over the wall time. */
export class CpuWindow {
  private readonly before = new Map<string, number | null>();
  private startedAt = 0;

  /** `withChildren`: names whose direct children's CPU counts too. */
  constructor(
    private readonly pids: Record<string, number | undefined>,
    private readonly withChildren: readonly string[] = [],
  ) {}

  start(): void {
    this.startedAt = performance.now();
    for (const [name, pid] of Object.entries(this.pids)) this.before.set(name, cpuSeconds(pid, this.withChildren.includes(name)));
  }

  stop(): Record<string, { cpuSeconds: number | null; cores: number | null }> {
    const wall = (performance.now() - this.startedAt) / 1000;
    const result: Record<string, { cpuSeconds: number | null; cores: number | null }> = {};
    for (const [name, pid] of Object.entries(this.pids)) {
      const before = this.before.get(name);
      const after = cpuSeconds(pid, this.withChildren.includes(name));
      const used = before === null || before === undefined || after === null ? null : after - before;
      result[name] = { cpuSeconds: used === null ? null : round(used), cores: used === null ? null : round(used / wall) };
    }
    return result;
  }
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
