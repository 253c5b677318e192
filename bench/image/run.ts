/**
 * Image size benchmark (not a test): assembles the edge's image tree for linux/amd64 and linux/arm64 and
 * the cloud's beside it, as the Dockerfiles do (scripts/assemble-image-tree.js), and measures them on disk:
 * node_modules + dist + base models, not counting the Node runtime (the base image's). Three runs by default,
 * with the install cache the image-tree tests use (BENCH_IMAGE_COLD=1: a fresh one, so the first run's
 * assembly time includes the npm installs).
 * Prints a table and a target line, writes bench/results/image.json.
 *
 *   npm run bench:image     (BENCH_IMAGE_RUNS=3, BENCH_IMAGE_COLD=0 by default)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../common/repo-root';
import { writeResultsFile } from '../common/results-file';

const TARGET_EDGE_MB = 150;
const MB = 1024 * 1024;
const TREES = [
  { app: 'edge', arch: 'x64' },
  { app: 'edge', arch: 'arm64' },
  { app: 'cloud', arch: 'x64' },
  { app: 'cloud', arch: 'arm64' },
] as const;
const PARTS = ['node_modules', 'dist', 'models'] as const;

const out = (line = '') => process.stdout.write(`${line}\n`);

interface Size {
  /** Allocated on disk (st_blocks × 512, as `du` counts). */
  diskBytes: number;
  /** Sum of file sizes. */
  bytes: number;
  files: number;
}

/** Sizes of everything under `dir` (hard links counted once). */
function measure(dir: string, seen = new Set<string>()): Size {
  const size: Size = { diskBytes: 0, bytes: 0, files: 0 };
  const walk = (at: string) => {
    const stat = lstatSync(at);
    const key = `${stat.dev}:${stat.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    size.diskBytes += stat.blocks * 512;
    if (stat.isDirectory()) for (const entry of readdirSync(at)) walk(path.join(at, entry));
    else {
      size.bytes += stat.size;
      size.files += 1;
    }
  };
  walk(dir);
  return size;
}

interface TreeRun {
  app: string;
  arch: string;
  seconds: number;
  total: Size;
  parts: Record<string, Size>;
  /** The largest packages of node_modules, by disk size. */
  largest: { name: string; diskMB: number }[];
}

function largestPackages(modules: string, count: number): { name: string; diskMB: number }[] {
  const names = readdirSync(modules).flatMap((entry) =>
    entry.startsWith('@') ? readdirSync(path.join(modules, entry)).map((sub) => `${entry}/${sub}`) : [entry],
  );
  return names
    .map((name) => ({ name, diskMB: Math.round((measure(path.join(modules, name)).diskBytes / MB) * 10) / 10 }))
    .sort((a, b) => b.diskMB - a.diskMB)
    .slice(0, count);
}

function assemble(root: string, app: string, arch: string, outDir: string, cache: string): TreeRun {
  const stdout = execFileSync(
    process.execPath,
    [path.join(root, 'scripts', 'assemble-image-tree.js'), '--app', app, '--arch', arch, '--out', outDir, '--install-cache', cache],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const { seconds } = JSON.parse(stdout.trim().split('\n').pop()!) as { seconds: number };
  const parts = Object.fromEntries(
    PARTS.filter((part) => existsSync(path.join(outDir, part))).map((part) => [part, measure(path.join(outDir, part), new Set())]),
  );
  // the whole tree: the parts plus package.json
  const total = measure(outDir);
  return { app, arch, seconds, total, parts, largest: largestPackages(path.join(outDir, 'node_modules'), 6) };
}

const mb = (bytes: number) => (bytes / MB).toFixed(1);

function main(): void {
  const root = repoRoot();
  const runs = Math.max(1, Number(process.env.BENCH_IMAGE_RUNS ?? 3));
  const work = mkdtempSync(path.join(os.tmpdir(), 'edgeloop-bench-image-'));
  // the tests' install cache (keyed by the lock) unless BENCH_IMAGE_COLD=1: then the first run installs afresh
  const cache = process.env.BENCH_IMAGE_COLD === '1' ? path.join(work, 'install-cache') : path.join(os.tmpdir(), 'edgeloop-image-install-cache');
  const results: TreeRun[][] = [];
  try {
    for (let run = 1; run <= runs; run++) {
      const round: TreeRun[] = [];
      for (const { app, arch } of TREES) {
        const outDir = path.join(work, `${app}-${arch}`);
        round.push(assemble(root, app, arch, outDir, cache));
        rmSync(outDir, { recursive: true, force: true });
      }
      results.push(round);
      out(`run ${run}/${runs}: ${round.map((r) => `${r.app} linux/${r.arch} ${mb(r.total.diskBytes)} MB in ${r.seconds} s`).join(', ')}`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  out();
  out('| tree | on disk MB (runs) | node_modules | dist | models | files | apparent MB | assembly s (runs) |');
  out('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (let i = 0; i < TREES.length; i++) {
    const series = results.map((round) => round[i]);
    const last = series[series.length - 1];
    const part = (name: string) => (last.parts[name] ? mb(last.parts[name].diskBytes) : '–');
    out(
      `| ${last.app} linux/${last.arch === 'x64' ? 'amd64' : last.arch} | ${series.map((r) => mb(r.total.diskBytes)).join(' / ')} | ${part('node_modules')} | ${part('dist')} | ${part('models')} | ${last.total.files} | ${mb(last.total.bytes)} | ${series.map((r) => r.seconds).join(' / ')} |`,
    );
  }
  out();
  for (let i = 0; i < TREES.length; i++) {
    const last = results[results.length - 1][i];
    out(`largest in ${last.app} linux/${last.arch}: ${last.largest.map((p) => `${p.name} ${p.diskMB} MB`).join(', ')}`);
  }
  const edgeWorst =
    Math.max(
      ...results
        .flat()
        .filter((r) => r.app === 'edge')
        .map((r) => r.total.diskBytes),
    ) / MB;
  out();
  out(
    `target edge tree <= ${TARGET_EDGE_MB} MB on disk for each platform: ${edgeWorst <= TARGET_EDGE_MB ? 'met' : 'NOT met'} (largest ${edgeWorst.toFixed(1)} MB)`,
  );

  const resultsDir = path.join(root, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeResultsFile(path.join(resultsDir, 'image.json'), {
    bench: 'image',
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, platform: `${process.platform}/${process.arch}`, node: process.version },
    targetEdgeMB: TARGET_EDGE_MB,
    edgeWorstMB: Math.round(edgeWorst * 10) / 10,
    met: edgeWorst <= TARGET_EDGE_MB,
    runs: results,
  });
  out('results: bench/results/image.json');
}

main();
