/**
 * Steady RSS and frame time of the real worker under variants of its start, alternated round by round so the
 * machine's load falls on each variant alike (not a test). Each run is the steady run of `npm run bench:edge`
 * (folder of franck frames at BENCH_EDGE_FPS, BENCH_EDGE_STEADY_S sampled, no broker) with the worker's own
 * defaults plus what the variant adds: environment variables, node flags before the script, or another
 * build's main.js (a variant of the code: `node scripts/build-dist.js --bench --out dist-B`).
 *
 *   BENCH_EDGE_VARIANTS='{"single-threaded GC":{"nodeArgs":["--single-threaded-gc"]}}' \
 *   BENCH_EDGE_ROUNDS=3 BENCH_EDGE_STEADY_S=10 node dist-NAME/bench/edge/steady-ab.js
 *
 * The first variant is always "own defaults" (nothing added). Round r starts at variant r (mod n). Prints a line
 * per run (load, steady / p95 / peak RSS, by mapping, frame median) and per variant the ranges and the median over
 * rounds of its frame median over the own-defaults frame median of the same round. Writes
 * bench/results/edge-steady-ab.json.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../common/repo-root';
import { writeResultsFile } from '../common/results-file';
import { franckFrameFiles } from './frames';
import { steadyRun, type SteadyRun } from './memory';
import { readSettings } from './settings';
import { median, round } from './stats';
import type { WorkerStart } from './worker-process';

interface Variant extends WorkerStart {
  env?: Record<string, string>;
}

interface AbRun {
  variant: string;
  round: number;
  loadBefore: number;
  loadAfter: number;
  run: SteadyRun;
}

function givenVariants(): Record<string, Variant> {
  return JSON.parse(process.env.BENCH_EDGE_VARIANTS ?? '{}') as Record<string, Variant>;
}

function readVariants(root: string): [string, Variant][] {
  const given = givenVariants();
  const variants: [string, Variant][] = [['own defaults', {}]];
  for (const [name, v] of Object.entries(given)) variants.push([name, { ...v, ...(v.main ? { main: path.resolve(root, v.main) } : {}) }]);
  return variants;
}

const range = (values: number[]): string => {
  const ok = values.filter(Number.isFinite);
  return ok.length === 0 ? '—' : `${Math.min(...ok).toFixed(1)}–${Math.max(...ok).toFixed(1)}`;
};

async function main(): Promise<void> {
  const root = repoRoot();
  const settings = readSettings();
  const rounds = Number(process.env.BENCH_EDGE_ROUNDS ?? 3);
  const variants = readVariants(root);
  const work = mkdtempSync(path.join(os.tmpdir(), 'edgeloop-bench-edge-ab-'));
  const runs: AbRun[] = [];
  try {
    const frames = path.join(work, 'frames');
    mkdirSync(frames);
    for (const file of franckFrameFiles(root)) symlinkSync(file, path.join(frames, path.basename(file)));
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < variants.length; i++) {
        const [name, variant] = variants[(r + i) % variants.length];
        const loadBefore = os.loadavg()[0];
        const run = await steadyRun(root, work, frames, settings, 'defaults', variant.env ?? {}, variant);
        const loadAfter = os.loadavg()[0];
        runs.push({ variant: name, round: r, loadBefore: round(loadBefore, 2), loadAfter: round(loadAfter, 2), run });
        const m = run.mapped;
        process.stdout.write(
          `round ${r + 1} ${name}: load ${loadBefore.toFixed(1)} → ${loadAfter.toFixed(1)}; steady ${run.steadyRssMb} MB (p95 ${run.p95RssMb}, peak ${run.peakRssMb}; ` +
            `anon ${run.steadyAnonMb}, file ${run.steadyFileMb}; node ${m?.nodeMb}, onnxruntime ${m?.onnxruntimeMb}, libvips ${m?.libvipsMb}, anonymous ${m?.anonymousMb}); ` +
            `frames ${run.frameMs.median} / ${run.frameMs.p95} ms median / p95, ${run.failedFrames} failed\n`,
        );
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const summary = variants.map(([name]) => {
    const mine = runs.filter((r) => r.variant === name);
    const ratios = mine.map((r) => {
      const base = runs.find((b) => b.round === r.round && b.variant === 'own defaults');
      return base ? r.run.frameMs.median / base.run.frameMs.median : NaN;
    });
    return {
      variant: name,
      steadyRssMb: mine.map((r) => r.run.steadyRssMb),
      peakRssMb: mine.map((r) => r.run.peakRssMb),
      frameMedianMs: mine.map((r) => r.run.frameMs.median),
      frameRatioMedian: round(median(ratios), 3),
      load: mine.map((r) => r.loadBefore),
    };
  });
  process.stdout.write(
    '\n| variant | steady MB | peak MB | frame median ms | frame × own defaults (median of rounds) | load |\n| --- | --- | --- | --- | --- | --- |\n',
  );
  for (const s of summary) {
    process.stdout.write(
      `| ${s.variant} | ${range(s.steadyRssMb)} | ${range(s.peakRssMb)} | ${range(s.frameMedianMs)} | ${s.frameRatioMedian} | ${range(s.load)} |\n`,
    );
  }
  const file = path.join(root, 'bench', 'results', 'edge-steady-ab.json');
  writeResultsFile(file, {
    schema: 'edgeloop.bench.edge-steady-ab/v1',
    createdAt: new Date().toISOString(),
    settings: { fps: settings.fps, steadySeconds: settings.steadySeconds, warmUpFrames: settings.warmUpFrames, rounds },
    // as given (a `main` relative to the repository), so the results name no path outside it
    variants: { 'own defaults': {}, ...givenVariants() },
    summary,
    runs,
  });
  process.stdout.write(`wrote ${path.relative(root, file)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`steady-ab failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
