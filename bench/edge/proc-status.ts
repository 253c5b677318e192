import { readFileSync } from 'node:fs';

/** Memory of one process from /proc/<pid>/status, in MB (2^20 bytes). */
export interface ProcMemory {
  /** Resident set (VmRSS): anonymous + file-backed + shared pages. */
  rssMb: number;
  /** Peak resident set since the process started (VmHWM). */
  hwmMb: number;
  /** Anonymous pages: heaps, arenas, V8, native buffers. */
  anonMb: number;
  /** File-backed pages: the node binary, libonnxruntime, libvips and other mapped files. */
  fileMb: number;
}

/** A field of /proc/<pid>/status in MB, to 0.1 MB. */
const field = (status: string, name: string): number => {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
  return match ? Math.round(Number(match[1]) / 102.4) / 10 : NaN;
};

/** Reads /proc/<pid>/status; undefined once the process is gone. */
export function readProcMemory(pid: number | 'self'): ProcMemory | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  return { rssMb: field(status, 'VmRSS'), hwmMb: field(status, 'VmHWM'), anonMb: field(status, 'RssAnon'), fileMb: field(status, 'RssFile') };
}

export interface MemorySample extends ProcMemory {
  /** Milliseconds since sampling started. */
  atMs: number;
}

/** Samples a process's /proc status at a fixed interval until stopped (or the process is gone). */
export class MemorySampler {
  readonly samples: MemorySample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly started = Date.now();

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 250,
  ) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  stop(): MemorySample[] {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    return this.samples;
  }

  private sample(): void {
    const memory = readProcMemory(this.pid);
    if (memory) this.samples.push({ ...memory, atMs: Date.now() - this.started });
  }
}
