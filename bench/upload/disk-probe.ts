import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** What /proc says about the machine's dirty page cache and its writeback (the whole machine, not one process). */
interface DiskSnapshot {
  /** /proc/meminfo Dirty and Writeback, kB. */
  dirtyKb: number;
  writebackKb: number;
  /** /proc/vmstat: pages dirtied and pages written back since boot (4 KiB pages), and KiB paged out to disk. */
  nrDirtied: number;
  nrWritten: number;
  pgpgout: number;
}

export interface DiskWindow {
  /** Dirty and Writeback when the transfer started, and the largest seen during it (sampled), MB. */
  dirtyAtStartMb: number;
  dirtyMaxMb: number;
  writebackAtStartMb: number;
  writebackMaxMb: number;
  /** Over the transfer: MB dirtied (nr_dirtied), MB written back (nr_written), MB paged out (pgpgout). */
  dirtiedMb: number;
  writtenMb: number;
  pgpgoutMb: number;
  samples: number;
  /** Longest gap between two samples: the sampling resolution actually achieved. */
  maxGapMs: number;
}

const PAGE_BYTES = 4096;
const DIRTY = /^Dirty:\s+(\d+) kB/m;
const WRITEBACK = /^Writeback:\s+(\d+) kB/m;
const MB = 1e6;

/**
 * Samples /proc/meminfo Dirty and Writeback every `intervalMs` over one transfer, and /proc/vmstat nr_dirtied,
 * nr_written and pgpgout at its start and end: how much dirty page cache a transfer starts with, whether
 * writeback runs during it, and how much it writes. Machine-wide figures: other processes' writes count too.
 */
export class DiskProbe {
  private readonly atStart: DiskSnapshot;
  private readonly timer: NodeJS.Timeout;
  private dirtyMaxKb: number;
  private writebackMaxKb: number;
  private samples = 1;
  private lastSampleAt = Date.now();
  private maxGapMs = 0;

  constructor(intervalMs: number) {
    this.atStart = diskSnapshot();
    this.dirtyMaxKb = this.atStart.dirtyKb;
    this.writebackMaxKb = this.atStart.writebackKb;
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): DiskWindow {
    clearInterval(this.timer);
    this.sample();
    const end = diskSnapshot();
    return {
      dirtyAtStartMb: kbToMb(this.atStart.dirtyKb),
      dirtyMaxMb: kbToMb(this.dirtyMaxKb),
      writebackAtStartMb: kbToMb(this.atStart.writebackKb),
      writebackMaxMb: kbToMb(this.writebackMaxKb),
      dirtiedMb: round(((end.nrDirtied - this.atStart.nrDirtied) * PAGE_BYTES) / MB),
      writtenMb: round(((end.nrWritten - this.atStart.nrWritten) * PAGE_BYTES) / MB),
      pgpgoutMb: kbToMb(end.pgpgout - this.atStart.pgpgout),
      samples: this.samples,
      maxGapMs: this.maxGapMs,
    };
  }

  private sample(): void {
    const now = Date.now();
    this.maxGapMs = Math.max(this.maxGapMs, now - this.lastSampleAt);
    this.lastSampleAt = now;
    this.samples++;
    const meminfo = readFileSync('/proc/meminfo', 'utf8');
    this.dirtyMaxKb = Math.max(this.dirtyMaxKb, field(meminfo, DIRTY));
    this.writebackMaxKb = Math.max(this.writebackMaxKb, field(meminfo, WRITEBACK));
  }
}

export function diskSnapshot(): DiskSnapshot {
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  const vmstat = readFileSync('/proc/vmstat', 'utf8');
  return {
    dirtyKb: field(meminfo, DIRTY),
    writebackKb: field(meminfo, WRITEBACK),
    nrDirtied: field(vmstat, /^nr_dirtied (\d+)/m),
    nrWritten: field(vmstat, /^nr_written (\d+)/m),
    pgpgout: field(vmstat, /^pgpgout (\d+)/m),
  };
}

/** Dirty page cache of the whole machine now, MB. */
export function dirtyMb(): number {
  return kbToMb(diskSnapshot().dirtyKb);
}

export interface Flush {
  ms: number;
  dirtyBeforeMb: number;
  dirtyAfterMb: number;
}

/**
 * Writes the machine's dirty page cache to disk (`sync`, which returns once it is written) so that a transfer does
 * not start with the dirty pages earlier transfers left; the pages stay cached. Run between transfers, not timed.
 */
export function flushDirtyPages(): Flush {
  const dirtyBeforeMb = dirtyMb();
  const started = performance.now();
  execFileSync('sync', { stdio: 'ignore' });
  const ms = round(performance.now() - started);
  return { ms, dirtyBeforeMb, dirtyAfterMb: dirtyMb() };
}

export function describeFlush(flush: Flush): string {
  return `sync before it ${Math.round(flush.ms)} ms (dirty ${flush.dirtyBeforeMb} → ${flush.dirtyAfterMb} MB)`;
}

/** One transfer's disk figures in a line: Dirty at start / max, Writeback max, MB written back and paged out. */
export function describeDisk(disk: DiskWindow): string {
  return `dirty ${disk.dirtyAtStartMb}→max ${disk.dirtyMaxMb} MB, writeback max ${disk.writebackMaxMb} MB, written ${disk.writtenMb} MB, pgpgout ${disk.pgpgoutMb} MB`;
}

function field(text: string, pattern: RegExp): number {
  const match = pattern.exec(text);
  return match ? Number(match[1]) : NaN;
}

function kbToMb(kb: number): number {
  return round((kb * 1024) / MB);
}

function round(v: number): number {
  return Number(v.toFixed(1));
}
