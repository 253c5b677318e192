import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';
import { reniceProcess } from './cpu-share';
import { collectGarbageNow } from './full-gc';

/** The nice value of one thread (/proc/<pid>/task/<tid>/stat, the 19th field). */
const niceOf = (pid: number, tid: string) => Number(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);

describe('test processes given more or less CPU', () => {
  it('renices every thread of a process', async () => {
    // a node process has several threads (its platform workers); raising nice needs no privilege
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const threads = readdirSync(`/proc/${child.pid}/task`);
      expect(threads.length).toBeGreaterThan(1);
      expect(reniceProcess(child.pid!, 7)).toBe(threads.length);
      for (const tid of threads) expect(niceOf(child.pid!, tid)).toBe(7);
    } finally {
      child.kill();
    }
  });

  it('throws when the process is gone', () => {
    expect(() => reniceProcess(2 ** 22 + 12345, 5)).toThrow();
  });

  it('runs a major garbage collection of this process at once', async () => {
    const major: number[] = [];
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries())
        if ((entry as PerformanceEntry & { detail: { kind: number } }).detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major.push(entry.duration);
    });
    observer.observe({ entryTypes: ['gc'] });
    collectGarbageNow();
    await new Promise((r) => setTimeout(r, 50));
    observer.disconnect();
    expect(major.length).toBeGreaterThanOrEqual(1);
  });
});
