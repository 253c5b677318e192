import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const MB = 1e6;

export interface ProbeTargets {
  /** The cloud process. */
  pid: number;
  /** The cloud's TMPDIR: its upload spool folders `edgeloop-upload-*` appear here. */
  cloudTmpDir: string;
  /** Where s3rver keeps the blobs of the bucket (`<dir>/<bucket>/blobs/sha256`). */
  s3BlobDir: string;
  /** Size of the uploaded file, to see when the spool file and the S3 object are complete. */
  fileSize: number;
  intervalMs: number;
}

/** Milliseconds since the probe started; null when the event was not seen. */
export interface UploadPhases {
  spoolSeenMs: number | null;
  spooledMs: number | null;
  validationStartMs: number | null;
  validationEndMs: number | null;
  s3ObjectSeenMs: number | null;
  s3ObjectCompleteMs: number | null;
}

export interface UploadProbeResult {
  samples: number;
  /** CPU time the sampling took in the bench process, included in cpuMs.benchUser/benchSystem. */
  probeCpuMs: number;
  /** Longest gap between two samples: the sampling resolution actually achieved. */
  maxGapMs: number;
  rss: {
    baselineMb: number;
    /** Highest VmRSS sampled. */
    sampledPeakMb: number;
    /** VmHWM after resetting it (clear_refs 5) at the start: the exact peak, when the kernel allows the reset. */
    hwmPeakMb: number | null;
    peakMb: number;
    growthMb: number;
    /** Highest sample while the body was being received and spooled, and after that. */
    peakWhileReceivingMb: number;
    peakAfterSpooledMb: number;
  };
  validationChild: { pid: number; peakRssMb: number } | null;
  /**
   * CPU time (ms) over the upload: the cloud process (all its threads: event loop, libuv pool, GC helpers), its
   * validator child, and the bench process (the client sending the body and s3rver receiving the cloud's PUT).
   */
  cpuMs: { cloudUser: number; cloudSystem: number; validator: number | null; benchUser: number; benchSystem: number };
  phases: UploadPhases;
}

/**
 * Watches one API upload from outside the cloud, every `intervalMs`: the cloud's VmRSS, its child
 * processes (the ONNX validator: its RSS, and its CPU time to date its work), the size of its spool file and of the new object in s3rver's folder.
 * From these it dates the phases of the upload without instrumenting the cloud.
 */
export class UploadProbe {
  private readonly started = performance.now();
  private readonly timer: NodeJS.Timeout;
  private readonly knownObjects: Set<string>;
  private readonly phases: UploadPhases = {
    spoolSeenMs: null,
    spooledMs: null,
    validationStartMs: null,
    validationEndMs: null,
    s3ObjectSeenMs: null,
    s3ObjectCompleteMs: null,
  };
  private readonly baselineKb: number;
  private readonly hwmReset: boolean;
  private samples = 0;
  /** CPU the sampling itself took in the bench process (it runs there beside the client and s3rver). */
  private ownCpuUs = 0;
  private lastSampleAt = this.started;
  private maxGapMs = 0;
  private peakKb = 0;
  private peakReceivingKb = 0;
  private peakAfterSpooledKb = 0;
  private child: { pid: number; peakKb: number } | null = null;
  private readonly childTicks = new Map<number, number>();
  private readonly cloudCpuAtStart: CpuTimes | undefined;
  private readonly benchCpuAtStart = process.cpuUsage();
  private readonly validatorTicksAtStart = new Map<number, number>();

  constructor(private readonly targets: ProbeTargets) {
    this.knownObjects = new Set(listObjects(targets.s3BlobDir));
    this.hwmReset = resetPeakRss(targets.pid);
    this.baselineKb = statusKb(targets.pid, 'VmRSS') ?? 0;
    this.peakKb = this.baselineKb;
    this.cloudCpuAtStart = cpuTimes(targets.pid);
    for (const pid of childProcesses(targets.pid)) this.validatorTicksAtStart.set(pid, cpuTicks(pid) ?? 0);
    this.timer = setInterval(() => this.sample(), targets.intervalMs);
  }

  /** Milliseconds since the probe started. */
  elapsed(): number {
    return round(performance.now() - this.started);
  }

  stop(): UploadProbeResult {
    this.sample();
    clearInterval(this.timer);
    const hwmKb = this.hwmReset ? statusKb(this.targets.pid, 'VmHWM') : undefined;
    const peakKb = Math.max(this.peakKb, hwmKb ?? 0);
    const cloudCpu = cpuTimes(this.targets.pid);
    const benchCpu = process.cpuUsage(this.benchCpuAtStart);
    const validatorTicks = this.child ? (this.childTicks.get(this.child.pid) ?? 0) - (this.validatorTicksAtStart.get(this.child.pid) ?? 0) : null;
    return {
      samples: this.samples,
      probeCpuMs: Math.round(this.ownCpuUs / 1000),
      maxGapMs: round(this.maxGapMs),
      rss: {
        baselineMb: mb(this.baselineKb),
        sampledPeakMb: mb(this.peakKb),
        hwmPeakMb: hwmKb === undefined ? null : mb(hwmKb),
        peakMb: mb(peakKb),
        growthMb: mb(peakKb - this.baselineKb),
        peakWhileReceivingMb: mb(this.peakReceivingKb),
        peakAfterSpooledMb: mb(this.peakAfterSpooledKb),
      },
      validationChild: this.child ? { pid: this.child.pid, peakRssMb: mb(this.child.peakKb) } : null,
      cpuMs: {
        cloudUser: cloudCpu && this.cloudCpuAtStart ? (cloudCpu.user - this.cloudCpuAtStart.user) * MS_PER_TICK : NaN,
        cloudSystem: cloudCpu && this.cloudCpuAtStart ? (cloudCpu.system - this.cloudCpuAtStart.system) * MS_PER_TICK : NaN,
        validator: validatorTicks === null ? null : validatorTicks * MS_PER_TICK,
        benchUser: Math.round(benchCpu.user / 1000),
        benchSystem: Math.round(benchCpu.system / 1000),
      },
      phases: { ...this.phases },
    };
  }

  private sample(): void {
    const began = process.cpuUsage();
    try {
      this.takeSample();
    } finally {
      const used = process.cpuUsage(began);
      this.ownCpuUs += used.user + used.system;
    }
  }

  private takeSample(): void {
    const now = performance.now();
    const at = round(now - this.started);
    this.samples++;
    this.maxGapMs = Math.max(this.maxGapMs, now - this.lastSampleAt);
    this.lastSampleAt = now;

    const rssKb = statusKb(this.targets.pid, 'VmRSS');
    if (rssKb !== undefined) {
      this.peakKb = Math.max(this.peakKb, rssKb);
      if (this.phases.spooledMs === null) this.peakReceivingKb = Math.max(this.peakReceivingKb, rssKb);
      else this.peakAfterSpooledKb = Math.max(this.peakAfterSpooledKb, rssKb);
    }

    // The validator process may be up before the upload (kept warm) and stays after it: its work is dated by
    // its CPU time growing, from the first sample after the body was spooled that shows it to the last one.
    for (const pid of childProcesses(this.targets.pid)) {
      this.child ??= { pid, peakKb: 0 };
      if (pid === this.child.pid) this.child.peakKb = Math.max(this.child.peakKb, statusKb(pid, 'VmRSS') ?? 0);
      const ticks = cpuTicks(pid);
      const before = this.childTicks.get(pid);
      if (ticks !== undefined) this.childTicks.set(pid, ticks);
      if (ticks === undefined || (before !== undefined && ticks <= before)) continue;
      if (this.phases.spooledMs !== null) {
        this.phases.validationStartMs ??= at;
        this.phases.validationEndMs = at;
      }
    }

    if (this.phases.spooledMs === null) {
      const spool = spoolFile(this.targets.cloudTmpDir);
      if (spool) {
        this.phases.spoolSeenMs ??= at;
        if (spool.size >= this.targets.fileSize) this.phases.spooledMs = at;
      }
    }

    if (this.phases.s3ObjectCompleteMs === null) {
      for (const name of listObjects(this.targets.s3BlobDir)) {
        if (this.knownObjects.has(name)) continue;
        this.phases.s3ObjectSeenMs ??= at;
        if (fileSize(path.join(this.targets.s3BlobDir, name)) >= this.targets.fileSize) this.phases.s3ObjectCompleteMs = at;
      }
    }
  }
}

/**
 * Live child processes of `pid` (the cloud spawns its ONNX validators from the main thread). A child
 * that has exited stays listed as a zombie until the parent's event loop reaps it, which a busy loop
 * delays; zombies count as ended.
 */
export function childProcesses(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
      .filter((child) => processState(child) !== 'Z');
  } catch {
    return [];
  }
}

/** Linux reports process CPU times in USER_HZ ticks, 100 a second on every architecture it runs on. */
const MS_PER_TICK = 10;

interface CpuTimes {
  user: number;
  system: number;
}

/** User and system CPU time of a process, in clock ticks (/proc/<pid>/stat fields 14 and 15). */
function cpuTimes(pid: number): CpuTimes | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]), system: Number(fields[12]) };
  } catch {
    return undefined;
  }
}

/** User + system CPU time of a process, in clock ticks. */
function cpuTicks(pid: number): number | undefined {
  const times = cpuTimes(pid);
  return times && times.user + times.system;
}

function processState(pid: number): string | undefined {
  try {
    // /proc/<pid>/stat: "pid (comm) S ..."; comm may hold spaces and parentheses
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/**
 * Peak RSS growth of a process over a stretch of work, from VmHWM after resetting it (no sampling, so a
 * busy event loop cannot hide the peak); null where the kernel refuses the reset.
 */
export class PeakRssWindow {
  private readonly beforeKb: number;
  private readonly reset: boolean;

  constructor(private readonly pid: number) {
    this.reset = resetPeakRss(pid);
    this.beforeKb = statusKb(pid, 'VmRSS') ?? 0;
  }

  close(): { beforeMb: number; peakMb: number; growthMb: number } | null {
    const peakKb = this.reset ? statusKb(this.pid, 'VmHWM') : undefined;
    if (peakKb === undefined) return null;
    return { beforeMb: mb(this.beforeKb), peakMb: mb(peakKb), growthMb: mb(peakKb - this.beforeKb) };
  }
}

/** VmRSS of a process in MB. */
export function rssMb(pid: number): number | null {
  const kb = statusKb(pid, 'VmRSS');
  return kb === undefined ? null : mb(kb);
}

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Resets the process's peak RSS (VmHWM) to its current RSS; false where the kernel refuses. */
function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

function spoolFile(tmpDir: string): { size: number } | undefined {
  for (const entry of readdirSync(tmpDir)) {
    if (!entry.startsWith('edgeloop-upload-')) continue;
    const dir = path.join(tmpDir, entry);
    for (const name of safeReaddir(dir)) {
      const size = fileSize(path.join(dir, name));
      if (size >= 0) return { size };
    }
  }
  return undefined;
}

function listObjects(dir: string): string[] {
  return existsSync(dir) ? safeReaddir(dir).filter((name) => name.endsWith('._S3rver_object')) : [];
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return -1;
  }
}

function mb(kb: number): number {
  return round((kb * 1024) / MB, 1);
}

function round(v: number, digits = 1): number {
  return Number(v.toFixed(digits));
}
