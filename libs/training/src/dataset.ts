import { createHash } from 'node:crypto';
import { TrainingError } from './errors';
import { createRandom, shuffle, type SeededRandom } from './random';

/**
 * Training examples and the leakage-safe split.
 *
 * Frames of one person seen by one camera a few seconds apart are near-duplicates: if one lands in
 * train and its neighbour in holdout, the holdout measures memory, not recognition. So the split
 * assigns whole *blocks*: examples of one subject (identity label, or the kind for strangers and
 * non-faces) from one group (device or source), chained while consecutive frames are at most
 * `windowMs` apart. Blocks are dealt per identity (stratified), so every split sees every identity
 * that has enough blocks; an identity with too few stays wholly in train and a note says so.
 */

export type ExampleKind = 'identity' | 'stranger' | 'not_a_face';

export interface TrainingExample {
  id: string;
  /** The identity name for kind `identity`; null otherwise. */
  label: string | null;
  kind: ExampleKind;
  /** L2-normalised face embedding. */
  embedding: Float32Array;
  /** Device or source the example came from. */
  group: string;
  /** Capture time, epoch ms. */
  time: number;
}

export interface SplitOptions {
  seed: number;
  /** Target shares of the examples; train gets the rest. */
  validation: number;
  calibration: number;
  holdout: number;
  /** Frames of one subject and group closer than this are one block. */
  windowMs: number;
  /** An identity with fewer blocks than this stays in train. */
  minBlocksPerIdentity: number;
  /** An identity with fewer examples than this stays in train. */
  minExamplesPerIdentity: number;
}

export const DEFAULT_SPLIT_OPTIONS: Readonly<SplitOptions> = Object.freeze({
  seed: 1,
  validation: 0.15,
  calibration: 0.15,
  holdout: 0.2,
  windowMs: 60_000,
  minBlocksPerIdentity: 4,
  minExamplesPerIdentity: 5,
});

export const SPLIT_NAMES = ['train', 'validation', 'calibration', 'holdout'] as const;
export type SplitName = (typeof SPLIT_NAMES)[number];

export interface DatasetSplit {
  train: TrainingExample[];
  validation: TrainingExample[];
  calibration: TrainingExample[];
  holdout: TrainingExample[];
  /** Plain-English remarks: identities kept in train, empty splits. */
  notes: string[];
}

/** The subject a block belongs to: the identity, or the kind for unlabelled examples. */
function subjectOf(example: TrainingExample): string {
  return example.kind === 'identity' ? `identity:${example.label}` : `kind:${example.kind}`;
}

function validate(examples: readonly TrainingExample[]): void {
  const ids = new Set<string>();
  let dimension = -1;
  for (const e of examples) {
    if (ids.has(e.id)) throw new TrainingError('INVALID_DATASET', `duplicate example id "${e.id}"`);
    ids.add(e.id);
    if (e.kind === 'identity' && !e.label) throw new TrainingError('INVALID_DATASET', `identity example "${e.id}" has no label`);
    if (e.kind !== 'identity' && e.label !== null) {
      throw new TrainingError('INVALID_DATASET', `${e.kind} example "${e.id}" must have a null label`);
    }
    if (!e.embedding.every(Number.isFinite)) throw new TrainingError('INVALID_DATASET', `example "${e.id}" has a non-finite embedding value`);
    if (dimension < 0) dimension = e.embedding.length;
    if (e.embedding.length !== dimension) {
      throw new TrainingError('DIMENSION_MISMATCH', `example "${e.id}" has ${e.embedding.length} values, expected ${dimension}`);
    }
  }
}

/**
 * Blocks of examples: per (subject, group), sorted by time, a new block starts when the gap to the
 * previous frame exceeds `windowMs`. Returned per subject, in a canonical order.
 */
export function exampleBlocks(examples: readonly TrainingExample[], windowMs: number): Map<string, TrainingExample[][]> {
  const streams = new Map<string, TrainingExample[]>();
  for (const e of examples) {
    const key = `${subjectOf(e)}\u0000${e.group}`;
    const stream = streams.get(key);
    if (stream) stream.push(e);
    else streams.set(key, [e]);
  }
  const bySubject = new Map<string, TrainingExample[][]>();
  for (const key of [...streams.keys()].sort()) {
    const stream = (streams.get(key) as TrainingExample[]).sort((a, b) => a.time - b.time || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const subject = key.slice(0, key.indexOf('\u0000'));
    const blocks = bySubject.get(subject) ?? [];
    let current: TrainingExample[] = [];
    for (const e of stream) {
      if (current.length > 0 && e.time - current[current.length - 1].time > windowMs) {
        blocks.push(current);
        current = [];
      }
      current.push(e);
    }
    if (current.length > 0) blocks.push(current);
    bySubject.set(subject, blocks);
  }
  return bySubject;
}

/**
 * Deals one subject's shuffled blocks so each split's share of the subject's examples follows the
 * targets: each block goes to the split furthest below its target (largest deficit, ties at random). A
 * subject's first block goes to train so train is never without it. Only the subject's own blocks and
 * its own random stream decide: adding or removing another identity never moves this one's examples.
 */
function dealBlocks(blocks: TrainingExample[][], shares: Record<SplitName, number>, random: SeededRandom): Record<SplitName, TrainingExample[][]> {
  const total = blocks.reduce((n, b) => n + b.length, 0);
  const dealt: Record<SplitName, TrainingExample[][]> = { train: [], validation: [], calibration: [], holdout: [] };
  const counts: Record<SplitName, number> = { train: 0, validation: 0, calibration: 0, holdout: 0 };
  blocks.forEach((block, i) => {
    let target: SplitName = 'train';
    if (i > 0) {
      const deficits = SPLIT_NAMES.map((name) => shares[name] * total - counts[name]);
      const best = Math.max(...deficits);
      const tied = SPLIT_NAMES.filter((_, j) => deficits[j] >= best - 1e-9);
      target = tied.length === 1 ? tied[0] : tied[random.int(tied.length)];
    }
    dealt[target].push(block);
    counts[target] += block.length;
  });
  return dealt;
}

/**
 * A subject's own random stream: seeded by the split's seed and the subject, so its shuffle and ties do
 * not depend on which other subjects the dataset holds (a retrain after new people were labelled deals
 * everyone else's blocks as before, and their head rows stay as they were: see head deltas).
 */
function subjectRandom(seed: number, subject: string): SeededRandom {
  return createRandom(createHash('sha256').update(`${Math.trunc(seed)}\u0000${subject}`).digest().readUInt32LE(0));
}

/**
 * Splits examples into train / validation / calibration / holdout by blocks (see the file comment).
 * The result does not depend on the input order; the same seed gives the same split.
 */
export function splitDataset(examples: readonly TrainingExample[], options: Partial<SplitOptions> = {}): DatasetSplit {
  const o = { ...DEFAULT_SPLIT_OPTIONS, ...options };
  const heldShare = o.validation + o.calibration + o.holdout;
  if ([o.validation, o.calibration, o.holdout].some((s) => !(s >= 0)) || heldShare >= 1) {
    throw new TrainingError('INVALID_OPTIONS', `validation, calibration and holdout must be ≥ 0 and sum below 1 (sum ${heldShare})`);
  }
  if (!(o.windowMs >= 0)) throw new TrainingError('INVALID_OPTIONS', `windowMs must be ≥ 0, got ${o.windowMs}`);
  validate(examples);
  const shares: Record<SplitName, number> = {
    train: 1 - heldShare,
    validation: o.validation,
    calibration: o.calibration,
    holdout: o.holdout,
  };
  const split: DatasetSplit = { train: [], validation: [], calibration: [], holdout: [], notes: [] };
  const kept: string[] = [];
  for (const [subject, blocks] of exampleBlocks(examples, o.windowMs)) {
    const size = blocks.reduce((n, b) => n + b.length, 0);
    const isIdentity = subject.startsWith('identity:');
    const random = subjectRandom(o.seed, subject);
    shuffle(blocks, random);
    if (isIdentity && (blocks.length < o.minBlocksPerIdentity || size < o.minExamplesPerIdentity)) {
      kept.push(`${subject.slice('identity:'.length)} (${size} examples in ${blocks.length} blocks)`);
      for (const block of blocks) split.train.push(...block);
      continue;
    }
    const dealt = dealBlocks(blocks, shares, random);
    for (const name of SPLIT_NAMES) for (const block of dealt[name]) split[name].push(...block);
  }
  if (kept.length > 0) {
    split.notes.push(
      `${kept.length} identit${kept.length === 1 ? 'y has' : 'ies have'} too few examples or blocks to split ` +
        `(need ${o.minExamplesPerIdentity} examples in ${o.minBlocksPerIdentity} blocks) and stay in train only: ${kept.join(', ')}`,
    );
  }
  for (const name of SPLIT_NAMES) {
    if (split[name].length === 0 && shares[name] > 0) split.notes.push(`the ${name} split is empty`);
  }
  return split;
}

/**
 * sha256 (hex) over the examples in id order: id, label, kind and the embedding's float32 bytes.
 * The same set of examples gives the same digest whatever their order: the lineage of a trained head.
 */
export function datasetDigest(examples: readonly TrainingExample[]): string {
  const hash = createHash('sha256');
  const sorted = [...examples].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const header = Buffer.alloc(4);
  for (const e of sorted) {
    const text = Buffer.from(JSON.stringify([e.id, e.label, e.kind]), 'utf8');
    header.writeUInt32LE(text.length, 0);
    hash.update(header).update(text);
    header.writeUInt32LE(e.embedding.length, 0);
    hash.update(header);
    hash.update(Buffer.from(e.embedding.buffer, e.embedding.byteOffset, e.embedding.byteLength));
  }
  return hash.digest('hex');
}
