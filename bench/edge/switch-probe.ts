/**
 * Head-only switches in one process (not a test), without the cloud, the broker or the disk: the base
 * models loaded once, then `switches` times a new pipeline on the same sessions with another identity head
 * (FacePipeline.withHead, what the edge's loader does when only the head's sha256 changed), made the
 * serving one, the previous released (its head's session.release()), a frame run on the new one. Every
 * switch is timed (head created and run once → previous released) and the RSS read after a full GC.
 * Three full reloads (every session created and warmed up, as before) are timed for comparison. Prints
 * the target lines and writes bench/results/edge-switch.json.
 *
 *   npm run build && MALLOC_ARENA_MAX=2 MALLOC_TRIM_THRESHOLD_=131072 \
 *     node --expose-gc --max-semi-space-size=1 dist/bench/edge/switch-probe.js [switches=50]
 *   (the worker's own memory settings, runtime/process-defaults.ts)
 */
import { buildIdentityHead, decodeImage, EMBEDDING_SIZE, FacePipeline, l2Normalise } from '@edgeloop/vision';
import { mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { repoRoot } from '../common/repo-root';
import { writeResultsFile } from '../common/results-file';
import { baseModels, franckFrameFiles } from './frames';
import { readMappedMemory, readProcMemory } from './proc-status';
import { TARGET_LEAK_MB, TARGET_SWITCH_MS } from './settings';
import { max, median, percentile, round } from './stats';

const LABELS = ['ann', 'ben', 'cem'];
const collect = (): void => (globalThis as { gc?: () => void }).gc?.();

function head(seed: number): Uint8Array {
  let state = seed;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  return buildIdentityHead({ labels: LABELS, prototypes: LABELS.map(() => l2Normalise(Float32Array.from({ length: EMBEDDING_SIZE }, random))) });
}

async function main(): Promise<void> {
  const root = repoRoot();
  const switches = Math.max(2, Number(process.argv[2] ?? 50));
  const loadBefore = os.loadavg();
  // As the worker's main does.
  sharp.cache(false);
  sharp.concurrency(1);
  const frame = await decodeImage(readFileSync(franckFrameFiles(root)[0]));
  const heads = [head(1), head(2)];
  const models = baseModels(root);
  let serving = await FacePipeline.load({ models: { ...models, head: heads[0] }, labels: LABELS, includeEmbeddings: true });
  await serving.process(frame);
  await serving.process(frame);
  collect();
  const before = readProcMemory('self')!;
  const switchMs: number[] = [];
  const rss: number[] = [];
  for (let i = 1; i <= switches; i++) {
    const t = performance.now();
    const next = await serving.withHead({ head: heads[i % 2], labels: LABELS });
    const previous = serving;
    serving = next;
    await previous.release();
    switchMs.push(performance.now() - t);
    const result = await serving.process(frame);
    if (result.faces.length !== 1) throw new Error(`switch ${i}: ${result.faces.length} faces`);
    collect();
    rss.push(readProcMemory('self')!.rssMb);
  }
  const after = readProcMemory('self')!;
  const mapped = readMappedMemory('self');
  const reloadMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const next = await FacePipeline.load({ models: { ...models, head: heads[i % 2] }, labels: LABELS, includeEmbeddings: true });
    const previous = serving;
    serving = next;
    await previous.release();
    reloadMs.push(performance.now() - t);
  }
  await serving.release();

  const leak = rss[rss.length - 1] - before.rssMb;
  const step = rss[0] - before.rssMb;
  const result = {
    schema: 'edgeloop.bench.edge-switch/v1',
    createdAt: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      node: process.version,
      loadAverageBefore: loadBefore.map((v) => round(v, 2)),
      loadAverageAfter: os.loadavg().map((v) => round(v, 2)),
    },
    switches,
    headOnlySwitchMs: { median: round(median(switchMs), 2), p95: round(percentile(switchMs, 95), 2), max: round(max(switchMs), 2) },
    fullReloadMs: { median: round(median(reloadMs), 1), max: round(max(reloadMs), 1) },
    rssMb: { before: before.rssMb, afterFirst: rss[0], afterLast: rss[rss.length - 1], max: max(rss), peak: after.hwmMb },
    mappedAfterSwitches: mapped,
    targets: {
      switchMs: TARGET_SWITCH_MS,
      switchMet: median(switchMs) <= TARGET_SWITCH_MS,
      leakMb: TARGET_LEAK_MB,
      leakMet: Math.abs(leak) <= TARGET_LEAK_MB,
      stepMet: step <= TARGET_LEAK_MB,
    },
  };
  const out = (line = '') => process.stdout.write(`${line}\n`);
  out(
    `head-only switches in one process: ${switches}, load average ${loadBefore.map((v) => v.toFixed(2)).join(' ')} → ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  );
  out(
    `switch (head created and run once → previous released): median ${result.headOnlySwitchMs.median} ms, p95 ${result.headOnlySwitchMs.p95}, max ${result.headOnlySwitchMs.max}`,
  );
  out(`full reload (every session created and warmed up), for comparison: median ${result.fullReloadMs.median} ms, max ${result.fullReloadMs.max}`);
  out(
    `RSS (after a full GC): ${before.rssMb} MB before, ${rss[0]} after the first switch, ${rss[rss.length - 1]} after the last, max ${max(rss)}; VmHWM ${after.hwmMb}`,
  );
  out(
    `target head-only switch ≤ ${TARGET_SWITCH_MS} ms median (in process, no disk or broker): ${result.headOnlySwitchMs.median} ms — ${result.targets.switchMet ? 'met' : 'NOT met'}`,
  );
  out(`target no RSS step at a switch: ${round(step, 1)} MB after the first — ${result.targets.stepMet ? 'met' : 'NOT met'}`);
  out(`target RSS after ${switches} switches within ${TARGET_LEAK_MB} MB of before: ${round(leak, 1)} MB — ${result.targets.leakMet ? 'met' : 'NOT met'}`);
  const file = path.join(root, 'bench', 'results', 'edge-switch.json');
  mkdirSync(path.dirname(file), { recursive: true });
  writeResultsFile(file, result);
  out(`wrote ${path.relative(root, file)}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`switch probe failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
