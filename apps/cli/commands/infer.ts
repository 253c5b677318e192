import { existsSync, readFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import {
  buildIdentityHead,
  computePrototypes,
  FacePipeline,
  InvalidVisionOptionsError,
  readModelBundle,
  VisionError,
  type FrameResult,
  type LabelledEmbedding,
} from '@edgeloop/vision';

/** Where the command writes; injectable so a test can run it in-process. */
export interface InferIo {
  stdout(line: string): void;
  stderr(line: string): void;
  setExitCode(code: number): void;
}

const processIo: InferIo = {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
  setExitCode: (code) => {
    process.exitCode = code;
  },
};

interface InferFlags {
  enroll: string[];
  gallery?: string;
  models: string;
  threshold?: number;
  matchThreshold?: number;
  minMargin?: number;
  threads?: number;
}

/** CLI flag of each pipeline option, so a validation error names what the user typed. */
const FLAG_OF: Record<string, string> = {
  detectionThreshold: '--threshold',
  matchThreshold: '--match-threshold',
  minMargin: '--min-margin',
  intraOpNumThreads: '--threads',
};

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.bmp']);

/** The repository root: the nearest folder above this file whose package.json is edgeloop's. */
function repoRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'edgeloop') return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    if (path.dirname(dir) === dir) return process.cwd();
  }
}

function number(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('not a number');
  return n;
}

function collect(value: string, previous: string[]): string[] {
  if (!/^[^=]+=.+$/.test(value)) throw new InvalidArgumentError('expected NAME=IMAGE');
  return [...previous, value];
}

const round = (v: number, digits: number) => Number(v.toFixed(digits));

function errorLine(file: string, err: unknown): string {
  if (err instanceof VisionError) return JSON.stringify({ file, error: err.code, message: err.message });
  return JSON.stringify({ file, error: 'INFERENCE_FAILED', message: err instanceof Error ? err.message : String(err) });
}

function resultLine(file: string, result: FrameResult): string {
  return JSON.stringify({
    file,
    faces: result.faces.map((f) => ({
      box: { x: round(f.box.x, 1), y: round(f.box.y, 1), width: round(f.box.width, 1), height: round(f.box.height, 1) },
      detectionScore: round(f.score, 4),
      identity: f.identity,
      score: f.identityScore === null ? null : round(f.identityScore, 4),
      margin: f.margin === null ? null : round(f.margin, 4),
      candidate: f.candidate,
    })),
    stats: {
      width: result.stats.width,
      height: result.stats.height,
      brightness: round(result.stats.brightness, 2),
      contrast: round(result.stats.contrast, 2),
      sharpness: round(result.stats.sharpness, 2),
    },
    timings: Object.fromEntries(Object.entries(result.timings).map(([k, v]) => [k, round(v, 2)])),
  });
}

/** `--enroll NAME=IMAGE` pairs plus every image of `--gallery DIR/<name>/`. */
async function galleryEntries(flags: InferFlags): Promise<{ label: string; file: string }[]> {
  const entries = flags.enroll.map((pair) => {
    const at = pair.indexOf('=');
    return { label: pair.slice(0, at), file: pair.slice(at + 1) };
  });
  if (flags.gallery) {
    const people = await readdir(flags.gallery, { withFileTypes: true });
    for (const person of people.filter((p) => p.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
      const dir = path.join(flags.gallery, person.name);
      for (const file of (await readdir(dir)).sort()) {
        if (IMAGE_EXTENSIONS.has(path.extname(file).toLowerCase())) {
          entries.push({ label: person.name, file: path.join(dir, file) });
        }
      }
    }
  }
  return entries;
}

/** Enrols the largest face of each gallery image; returns how many gallery images failed. */
async function enrol(pipeline: FacePipeline, flags: InferFlags, io: InferIo): Promise<number> {
  const entries = await galleryEntries(flags);
  if (entries.length === 0) return 0;
  const samples: LabelledEmbedding[] = [];
  let failures = 0;
  for (const { label, file } of entries) {
    try {
      const faces = await pipeline.embedFaces(file);
      if (faces.length === 0) {
        io.stderr(JSON.stringify({ file, error: 'NO_FACE', message: `no face found to enrol as ${label}` }));
        failures++;
        continue;
      }
      const largest = faces.reduce((a, b) => (b.box.width * b.box.height > a.box.width * a.box.height ? b : a));
      samples.push({ label, embedding: largest.embedding });
    } catch (err) {
      io.stderr(errorLine(file, err));
      failures++;
    }
  }
  if (samples.length > 0) {
    const prototypes = computePrototypes(samples);
    await pipeline.setHead(buildIdentityHead(prototypes), prototypes.labels);
  }
  return failures;
}

async function runInfer(images: string[], flags: InferFlags, io: InferIo): Promise<void> {
  const bundle = await readModelBundle(flags.models);
  const useBundleHead = flags.enroll.length === 0 && !flags.gallery && bundle.models.head && bundle.labels;
  let pipeline: FacePipeline;
  try {
    pipeline = await FacePipeline.load({
      models: {
        detector: bundle.models.detector,
        landmarks: bundle.models.landmarks,
        embedder: bundle.models.embedder,
        ...(useBundleHead ? { head: bundle.models.head } : {}),
      },
      ...(useBundleHead ? { labels: bundle.labels } : {}),
      detectionThreshold: flags.threshold ?? bundle.thresholds.detection,
      matchThreshold: flags.matchThreshold ?? bundle.thresholds.match,
      ...(flags.minMargin !== undefined ? { minMargin: flags.minMargin } : {}),
      ...(flags.threads !== undefined ? { intraOpNumThreads: flags.threads } : {}),
    });
  } catch (err) {
    if (err instanceof InvalidVisionOptionsError) {
      const issues = err.issues.map((i) => ({ ...i, field: FLAG_OF[i.field] ?? i.field }));
      io.stderr(
        JSON.stringify({
          error: err.code,
          message: issues.map((i) => `${i.field}: ${i.message}`).join('; '),
          details: issues,
        }),
      );
    } else {
      io.stderr(errorLine(flags.models, err));
    }
    io.setExitCode(2);
    return;
  }
  try {
    let failures = await enrol(pipeline, flags, io);
    for (const file of images) {
      try {
        io.stdout(resultLine(file, await pipeline.process(file)));
      } catch (err) {
        io.stderr(errorLine(file, err));
        failures++;
      }
    }
    if (failures > 0) io.setExitCode(1);
  } finally {
    await pipeline.release();
  }
}

/**
 * `edgeloop infer [options] <images...>`: runs the face pipeline on image files and prints one
 * JSON object per image on stdout; a file that cannot be read or decoded gets an error object on
 * stderr, the others still run, and the exit code is 1.
 */
export function registerInfer(program: Command, io: InferIo = processIo): void {
  const defaultModels = path.join(repoRoot(), 'models', 'base');
  program
    .command('infer')
    .description('detect, align, embed and identify faces in images; one JSON line per image')
    .argument('<images...>', 'image files (JPEG, PNG, WebP, …)')
    .option('--enroll <NAME=IMAGE>', 'enrol a person from a photo (repeatable)', collect, [])
    .option('--gallery <dir>', 'enrol every image of each sub-folder, named after the folder')
    .option('--models <dir>', 'model bundle folder (manifest.json + ONNX files)', defaultModels)
    .option('--threshold <score>', 'face detection threshold (default 0.8)', number)
    .option('--match-threshold <score>', 'cosine score below which a face is unknown (default 0.45)', number)
    .option('--min-margin <score>', 'minimum top-1 minus top-2 score for a match (default 0.05)', number)
    .option('--threads <n>', 'onnxruntime intra-op threads (default 1)', number)
    .action(async (images: string[], flags: InferFlags) => {
      if (flags.gallery && !(await stat(flags.gallery).catch(() => null))?.isDirectory()) {
        io.stderr(JSON.stringify({ error: 'INVALID_GALLERY', message: `not a folder: ${flags.gallery}` }));
        io.setExitCode(2);
        return;
      }
      await runInfer(images, flags, io);
    });
}
