/**
 * A child process of the edge bench, started with the worker's allocator settings and --expose-gc:
 * the pipeline's three models in bare onnxruntime sessions (`VariantSessions`) on the franck frames
 * (libvips cache off and one libvips thread, as the worker sets them).
 *
 *   node --expose-gc dist/bench/edge/session-probe.js memory '<SessionVariant JSON>' <frames>
 *     one variant, frames decoded once up front: RSS before the sessions, after them, and after every
 *     frame (GC first each time)
 *   node --expose-gc dist/bench/edge/session-probe.js latency '<SessionVariant[] JSON>' <rounds>
 *     every variant in this one process, each frame run by all of them back to back in a rotating
 *     order, so machine load hits them alike: `session.run` and whole-frame (JPEG decode included)
 *     milliseconds per variant
 *
 * Prints one JSON line and exits.
 */
import { decodeImage, type RgbImage } from '@edgeloop/vision';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { repoRoot } from '../common/repo-root';
import { baseModels, franckFrameFiles } from './frames';
import { readProcMemory, type ProcMemory } from './proc-status';
import { VariantSessions, type SessionVariant } from './variant-sessions';

export interface SessionMemoryResult {
  variant: SessionVariant;
  frames: number;
  /** Node, onnxruntime-node, sharp, the vision library and the decoded frames; no session yet. */
  beforeSessions: ProcMemory;
  /** The three sessions created and run once. */
  afterSessions: ProcMemory;
  /** Median and largest VmRSS after each frame of the second half of the run. */
  steadyRssMb: number;
  maxRssMb: number;
  end: ProcMemory;
}

export interface SessionLatencyResult {
  variants: SessionVariant[];
  /** Per variant, `session.run` milliseconds of each frame (detector + landmarks + embedder). */
  runMs: number[][];
  /** Per variant, the whole frame: JPEG decode, the pipeline's tensors, the three models, NMS, alignment. */
  frameMs: number[][];
}

/** A full V8 collection (the bench starts this process with --expose-gc). */
const collect = (): void => (globalThis as { gc?: () => void }).gc?.();

async function memory(images: RgbImage[], variant: SessionVariant, frames: number): Promise<SessionMemoryResult> {
  const root = repoRoot();
  collect();
  const beforeSessions = readProcMemory('self')!;
  const sessions = await VariantSessions.create(variant, baseModels(root));
  await sessions.runFrame(images[0]);
  collect();
  const afterSessions = readProcMemory('self')!;
  const rss: number[] = [];
  for (let i = 0; i < frames; i++) {
    await sessions.runFrame(images[i % images.length]);
    // What stays after a collection is what the sessions hold, not garbage awaiting a GC.
    collect();
    rss.push(readProcMemory('self')!.rssMb);
  }
  const steady = rss.slice(Math.floor(rss.length / 2)).sort((a, b) => a - b);
  const end = readProcMemory('self')!;
  await sessions.release();
  return { variant, frames, beforeSessions, afterSessions, steadyRssMb: steady[Math.floor(steady.length / 2)], maxRssMb: steady[steady.length - 1], end };
}

async function latency(jpegs: Buffer[], variants: SessionVariant[], rounds: number): Promise<SessionLatencyResult> {
  const models = baseModels(repoRoot());
  const sessions: VariantSessions[] = [];
  for (const variant of variants) sessions.push(await VariantSessions.create(variant, models));
  const runMs: number[][] = variants.map(() => []);
  const frameMs: number[][] = variants.map(() => []);
  for (const s of sessions) await s.runFrame(await decodeImage(jpegs[0]));
  let turn = 0;
  for (let r = 0; r < rounds; r++) {
    for (const jpeg of jpegs) {
      for (let k = 0; k < sessions.length; k++) {
        const i = (k + turn) % sessions.length;
        const t = performance.now();
        const { ms } = await sessions[i].runFrame(await decodeImage(jpeg));
        frameMs[i].push(performance.now() - t);
        runMs[i].push(ms);
      }
      turn++;
    }
  }
  await Promise.all(sessions.map((s) => s.release()));
  return { variants, runMs, frameMs };
}

async function main(): Promise<void> {
  const [mode, spec, count] = process.argv.slice(2);
  sharp.cache(false);
  sharp.concurrency(1);
  const jpegs = franckFrameFiles(repoRoot()).map((file) => readFileSync(file));
  const result =
    mode === 'memory'
      ? await memory(await Promise.all(jpegs.map((jpeg) => decodeImage(jpeg))), JSON.parse(spec) as SessionVariant, Math.max(2, Number(count)))
      : await latency(jpegs, JSON.parse(spec) as SessionVariant[], Math.max(1, Number(count)));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`session probe: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  });
}
