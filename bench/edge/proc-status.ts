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

/** Resident memory of one process by what is mapped (MB), from /proc/<pid>/smaps. */
export interface MappedMemory {
  /** The node binary's own pages (code and data). */
  nodeMb: number;
  /** libonnxruntime's pages (code, data). */
  onnxruntimeMb: number;
  /** sharp's libvips and its bundled libraries. */
  libvipsMb: number;
  /** Every other shared library (glibc, libstdc++, …). */
  otherLibrariesMb: number;
  /** Anonymous memory: the V8 heap, malloc's heap and arenas (onnxruntime's arenas and tensors, libvips buffers). */
  anonymousMb: number;
  /** Thread stacks, vdso and other named anonymous mappings. */
  otherMb: number;
}

/** Sums the Rss of each mapping of /proc/<pid>/smaps by the file it maps; undefined once the process is gone. */
export function readMappedMemory(pid: number | 'self'): MappedMemory | undefined {
  let smaps: string;
  try {
    smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = { nodeMb: 0, onnxruntimeMb: 0, libvipsMb: 0, otherLibrariesMb: 0, anonymousMb: 0, otherMb: 0 };
  let bucket: keyof MappedMemory = 'otherMb';
  for (const line of smaps.split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      bucket = mappingBucket(header[1].trim());
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) kb[bucket] += Number(rss[1]);
  }
  const toMb = (v: number) => Math.round(v / 102.4) / 10;
  return {
    nodeMb: toMb(kb.nodeMb),
    onnxruntimeMb: toMb(kb.onnxruntimeMb),
    libvipsMb: toMb(kb.libvipsMb),
    otherLibrariesMb: toMb(kb.otherLibrariesMb),
    anonymousMb: toMb(kb.anonymousMb),
    otherMb: toMb(kb.otherMb),
  };
}

function mappingBucket(name: string): keyof MappedMemory {
  if (name === '' || name === '[heap]') return 'anonymousMb';
  if (/\/bin\/node$/.test(name) || /\/node$/.test(name)) return 'nodeMb';
  if (/onnxruntime/.test(name)) return 'onnxruntimeMb';
  if (/vips|@img\/sharp|sharp-/.test(name)) return 'libvipsMb';
  if (/\.so(\.|$)/.test(name) || name.endsWith('.node')) return 'otherLibrariesMb';
  return 'otherMb';
}
