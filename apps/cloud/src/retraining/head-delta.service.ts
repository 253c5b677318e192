import { Injectable, Logger } from '@nestjs/common';
import { HEAD_DELTA_PREFIX, parseHeadDeltaKey, RetrainingArtifacts } from './retraining-artifacts';
import { HeadReferenceRepository } from './head-reference.repository';
import { TrainingCompute } from './training-compute';

/** Pairs (target, base) known to give no delta, remembered at most this many (heads never change, so it never goes stale). */
const MAX_REMEMBERED_NONE = 10_000;

/** A stored delta younger than this is never pruned: a device may be between asking for it and reporting its new version. */
export const HEAD_DELTA_PRUNE_GRACE_MS = 10 * 60_000;

export interface HeadDeltaPruneReport {
  kept: number;
  removed: number;
}

/**
 * Head deltas from whatever head a device runs: a retraining run stores the delta from its base's head, and
 * any other pair of registered heads gets its delta made on the first request — in a training thread, never
 * on the event loop — and stored under the pair's two sha256, so every later request (and every replica)
 * reads it back. Pairs that give no delta (a head of another kind or width) are remembered in memory, and
 * one request at a time per pair does the work. Stored deltas whose target or base is no longer in use
 * (`HeadReferenceRepository.headsInUse`) are removed by `prune`, which the retraining sweep runs.
 */
@Injectable()
export class HeadDeltaService {
  private readonly logger = new Logger(HeadDeltaService.name);
  private readonly none = new Set<string>();
  private readonly making = new Map<string, Promise<Buffer | undefined>>();

  constructor(
    private readonly artifacts: RetrainingArtifacts,
    private readonly heads: HeadReferenceRepository,
    private readonly compute: TrainingCompute,
  ) {}

  /** The delta from the head `baseSha256` to the head `targetSha256`, or undefined when none can be made. */
  async delta(targetSha256: string, baseSha256: string): Promise<Buffer | undefined> {
    const stored = await this.artifacts.getHeadDelta(targetSha256, baseSha256);
    if (stored) return stored;
    if (targetSha256 === baseSha256) return undefined;
    const pair = `${targetSha256}/${baseSha256}`;
    if (this.none.has(pair)) return undefined;
    let making = this.making.get(pair);
    if (!making) {
      making = this.make(targetSha256, baseSha256, pair).finally(() => this.making.delete(pair));
      this.making.set(pair, making);
    }
    return making;
  }

  private async make(targetSha256: string, baseSha256: string, pair: string): Promise<Buffer | undefined> {
    const [targetIsHead, baseIsHead] = await Promise.all([this.heads.isHead(targetSha256), this.heads.isHead(baseSha256)]);
    // not (or not yet) registered heads: nothing to remember, a later registration may make them heads
    if (!targetIsHead || !baseIsHead) return undefined;
    const started = performance.now();
    const [target, base] = await Promise.all([this.artifacts.getModelFileBytes(targetSha256), this.artifacts.getModelFileBytes(baseSha256)]);
    const { delta } = await this.compute.headDelta({ base, target });
    if (!delta) {
      if (this.none.size >= MAX_REMEMBERED_NONE) this.none.clear();
      this.none.add(pair);
      return undefined;
    }
    await this.artifacts.putHeadDelta(targetSha256, baseSha256, delta.bytes);
    this.logger.log(
      `head delta ${baseSha256.slice(0, 12)}… → ${targetSha256.slice(0, 12)}… made on request in ${Math.round(performance.now() - started)} ms: ` +
        `${delta.bytes.byteLength} bytes, ${delta.carried} identities carried, ${delta.copied} copied`,
    );
    return Buffer.from(delta.bytes.buffer, delta.bytes.byteOffset, delta.bytes.byteLength);
  }

  /** Removes stored deltas older than the grace whose target or base is no longer a head in use. */
  async prune(now = Date.now()): Promise<HeadDeltaPruneReport> {
    const keys = await this.artifacts.headDeltaKeysOlderThan(new Date(now - HEAD_DELTA_PRUNE_GRACE_MS));
    if (keys.length === 0) return { kept: 0, removed: 0 };
    const inUse = await this.heads.headsInUse();
    let removed = 0;
    for (const key of keys) {
      const pair = parseHeadDeltaKey(key);
      if (pair && inUse.has(pair.target) && inUse.has(pair.base)) continue;
      await this.artifacts.removeHeadDelta(key);
      removed++;
    }
    if (removed > 0) this.logger.log(`removed ${removed} of ${keys.length} stored head deltas (under ${HEAD_DELTA_PREFIX}) whose heads are no longer in use`);
    return { kept: keys.length - removed, removed };
  }
}
