/**
 * Loaded into the cloud with `NODE_OPTIONS=--require …` by bench/cloud-memory (not an IPC preload: the cloud
 * re-executes itself with its V8 defaults, and an IPC channel would stop that). Every second it writes what
 * only the process itself can see — V8's heap spaces, process.memoryUsage() and the modules loaded, by
 * package — to the file named by BENCH_CLOUD_MEMORY_OUT (written whole, then renamed).
 */
import { renameSync, writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

export interface CloudMemorySnapshot {
  at: string;
  /** process.memoryUsage(), MB. */
  usage: Record<'rss' | 'heapTotal' | 'heapUsed' | 'external' | 'arrayBuffers', number>;
  /** V8 heap spaces that hold anything: used and resident (physical) MB. */
  heapSpaces: { space: string; usedMb: number; physicalMb: number }[];
  /** Modules in require's cache, by npm package (or `app:<folder>` for the compiled sources). */
  modulesByPackage: Record<string, number>;
  modules: number;
  execArgv: string[];
}

const MB = 1e6;
const round = (v: number) => Math.round((v / MB) * 10) / 10;

function snapshot(): CloudMemorySnapshot {
  const usage = process.memoryUsage();
  const modulesByPackage: Record<string, number> = {};
  const files = Object.keys(require.cache);
  for (const file of files) {
    const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? `app:${/\/(apps\/[^/]+|libs\/[^/]+|bench)\//.exec(file)?.[1] ?? 'other'}`;
    modulesByPackage[pkg] = (modulesByPackage[pkg] ?? 0) + 1;
  }
  return {
    at: new Date().toISOString(),
    usage: {
      rss: round(usage.rss),
      heapTotal: round(usage.heapTotal),
      heapUsed: round(usage.heapUsed),
      external: round(usage.external),
      arrayBuffers: round(usage.arrayBuffers),
    },
    heapSpaces: getHeapSpaceStatistics()
      .filter((s) => s.physical_space_size > 0)
      .map((s) => ({ space: s.space_name, usedMb: round(s.space_used_size), physicalMb: round(s.physical_space_size) })),
    modulesByPackage,
    modules: files.length,
    execArgv: process.execArgv,
  };
}

const out = process.env.BENCH_CLOUD_MEMORY_OUT;
if (out) {
  setInterval(() => {
    writeFileSync(`${out}.tmp`, JSON.stringify(snapshot()));
    renameSync(`${out}.tmp`, out);
  }, 1000).unref();
}
