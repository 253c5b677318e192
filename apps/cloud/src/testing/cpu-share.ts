import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Sets the nice value of every thread of a process (each of `/proc/<pid>/task`: Linux's nice is per thread, and a
 * thread started later takes its creator's). Returns how many threads took it. A negative value — more CPU than the
 * processes beside it — needs `CAP_SYS_NICE` (root); without it nothing changes and this throws.
 */
export function reniceProcess(pid: number, nice: number): number {
  let threads = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      setPriority(Number(tid), nice);
      threads++;
    } catch (err) {
      // a thread that ended meanwhile is no error; a refusal is
      if ((err as { info?: { code?: string } }).info?.code !== 'ESRCH') throw err;
    }
  }
  return threads;
}

/** Whether this process may give another more CPU than its neighbours (a negative nice value): root, as a rule. */
export function mayRaisePriority(): boolean {
  return process.getuid?.() === 0;
}
