import { Injectable, Logger } from '@nestjs/common';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { ModelVersionRef } from '@edgeloop/contracts';
import { normalise, type TrainingExample } from '@edgeloop/training';
import { DomainError } from '../errors/domain.errors';
import { CropStore } from './crop-store';
import { EmbeddingRepository } from './embedding.repository';
import { FaceAnalysisPool } from './face-analysis.pool';
import { FaceModelFiles, type FaceModels } from './face-model-files';
import { HardExampleTrainingRepository, type HardExampleSample } from './hard-example-training.repository';
import { IdentityRepository, type EnrolmentPhotoRecord } from './identity.repository';

export interface CollectTrainingDataInput {
  /** Whose labelled hard examples to use (enrolment photos belong to every model). */
  modelName: string;
  /** The embedder the examples must be embedded with. */
  embedderSha256: string;
  /** A registered version whose bundle holds that embedder (and the detector and landmarks to re-embed loose crops). */
  embedderVersion: ModelVersionRef;
}

export interface TrainingDataCounts {
  /** Enrolment photos in the set. */
  enrolment: number;
  /** Hard examples labelled with an identity. */
  hardExamples: number;
  /** Not-a-face and confirmed-unknown hard examples (kinds `not_a_face` and `stranger`). */
  negatives: number;
  /** Examples embedded now from their stored crop, because no embedding by this embedder existed. */
  reembedded: number;
  /** Labelled hard examples without a crop whose device used another embedder: unusable for this one. */
  skippedPrivate: number;
  /** Examples whose crop could not be re-embedded (crop missing, or no face found in it). */
  unreadable: number;
}

export interface TrainingData {
  examples: TrainingExample[];
  counts: TrainingDataCounts;
}

/**
 * Examples handled per turn of the event loop (normalising, collecting): 11,000 in one go held the loop
 * 60–140 ms (load 7–9), and every API answer with it.
 */
const EXAMPLES_PER_TURN = 1000;

/** Crops sent to the face worker per job. */
const REEMBED_BATCH = 16;

/**
 * Training data for one embedder: enrolment photos (kind `identity`, group `enrolment:<name>`) and
 * labelled hard examples (identity / not a face / confirmed unknown = stranger; group = device id, time =
 * capture time). A label belongs to the crop when there is one, so an example is embedded again with any
 * new embedder (and stored, tagged with the embedder's sha256); an example without a crop (a device that
 * keeps crops private) counts only for the embedder its device used.
 */
@Injectable()
export class TrainingDataService {
  private readonly logger = new Logger(TrainingDataService.name);

  constructor(
    private readonly identities: IdentityRepository,
    private readonly embeddings: EmbeddingRepository,
    private readonly hardExamples: HardExampleTrainingRepository,
    private readonly crops: CropStore,
    private readonly files: FaceModelFiles,
    private readonly faces: FaceAnalysisPool,
  ) {}

  async collect(input: CollectTrainingDataInput): Promise<TrainingData> {
    const started = Date.now();
    const models = await this.embedderModels(input.embedderVersion, input.embedderSha256);
    const counts: TrainingDataCounts = { enrolment: 0, hardExamples: 0, negatives: 0, reembedded: 0, skippedPrivate: 0, unreadable: 0 };
    const examples: TrainingExample[] = [];

    const photos = await this.identities.listPhotos();
    const photoVectors = await this.photoEmbeddings(photos, models, counts);
    for (const photo of photos) {
      const embedding = photoVectors.get(photo.id);
      if (!embedding) continue;
      counts.enrolment++;
      examples.push({
        id: `photo:${photo.id}`,
        label: photo.identityName,
        kind: 'identity',
        embedding,
        group: `enrolment:${photo.identityName}`,
        time: Date.parse(photo.createdAt),
      });
    }

    const samples = await this.hardExamples.labelled(input.modelName);
    const sampleVectors = await this.sampleEmbeddings(samples, models, counts);
    for (const [i, sample] of samples.entries()) {
      if (i % EXAMPLES_PER_TURN === EXAMPLES_PER_TURN - 1) await yieldToLoop();
      const embedding = sampleVectors.get(sample.id);
      if (!embedding || sample.kind === 'unlabelled') continue;
      if (sample.kind === 'identity') counts.hardExamples++;
      else counts.negatives++;
      examples.push({ id: sample.id, label: sample.label, kind: sample.kind, embedding, group: sample.deviceId, time: sample.capturedAt });
    }
    this.logger.log(
      `training data for ${input.modelName} with embedder ${input.embedderSha256.slice(0, 12)}: ${examples.length} examples ` +
        `(${JSON.stringify(counts)}) in ${Date.now() - started} ms`,
    );
    return { examples, counts };
  }

  /**
   * Embeds every enrolment photo and every labelled hard-example crop of `modelName` with the embedder of
   * `version`, where that embedding is missing: run when a version brings a new embedder, so the gallery is
   * ready before anyone trains on it.
   */
  async reembed(version: ModelVersionRef): Promise<TrainingDataCounts> {
    const embedderSha256 = await this.files.embedderOf(version);
    if (!embedderSha256) throw new DomainError(422, 'no_embedder', `${version.name}@${version.version} has no embedder`);
    const { counts } = await this.collect({ modelName: version.name, embedderSha256, embedderVersion: version });
    return counts;
  }

  /** The embedding of each stored hard example for one embedder: the device's own, a stored one, or one made now from its crop. */
  async sampleEmbeddings(
    samples: HardExampleSample[],
    models: LazyFaceModels,
    counts: Pick<TrainingDataCounts, 'reembedded' | 'skippedPrivate' | 'unreadable'>,
    options: { maxReembed?: number } = {},
  ): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    const deviceEmbedders = new Map<string, string | undefined>();
    const needCrop: HardExampleSample[] = [];
    for (const [i, sample] of samples.entries()) {
      const versionKey = `${sample.model.name}@${sample.model.version}`;
      if (!deviceEmbedders.has(versionKey)) deviceEmbedders.set(versionKey, await this.files.embedderOf(sample.model));
      if (deviceEmbedders.get(versionKey) === models.embedderSha256) out.set(sample.id, normalise(sample.embedding));
      else if (sample.cropKey) needCrop.push(sample);
      else counts.skippedPrivate++;
      if (i % EXAMPLES_PER_TURN === EXAMPLES_PER_TURN - 1) await yieldToLoop();
    }
    const stored = await this.embeddings.getMany(
      'hard_example',
      needCrop.map((s) => s.id),
      models.embedderSha256,
    );
    let missing: HardExampleSample[] = [];
    for (const sample of needCrop) {
      const vector = stored.get(sample.id);
      if (vector) out.set(sample.id, vector);
      else missing.push(sample);
    }
    // crops past the cap stay out of this answer; they are embedded by a later call (or the embedder-change listener)
    if (options.maxReembed !== undefined) missing = missing.slice(0, options.maxReembed);
    for (let i = 0; i < missing.length; i += REEMBED_BATCH) {
      const batch = missing.slice(i, i + REEMBED_BATCH);
      const bytes = await Promise.all(batch.map((s) => this.crops.byKey(s.cropKey!).catch(() => undefined)));
      const readable = batch.filter((_, j) => bytes[j]);
      counts.unreadable += batch.length - readable.length;
      if (readable.length === 0) continue;
      const vectors = await this.faces.run({ op: 'embed-face-crops', models: (await models.load()).paths, crops: bytes.filter((b): b is Buffer => !!b) });
      for (const [j, sample] of readable.entries()) {
        const vector = vectors[j];
        if (!vector) {
          counts.unreadable++;
          continue;
        }
        await this.embeddings.put('hard_example', sample.id, models.embedderSha256, vector);
        out.set(sample.id, vector);
        counts.reembedded++;
      }
    }
    return out;
  }

  /** A version's face models, downloaded only when something needs embedding. */
  async embedderModels(version: ModelVersionRef, expectedSha256?: string): Promise<LazyFaceModels> {
    const embedderSha256 = await this.files.embedderOf(version);
    if (!embedderSha256) throw new DomainError(422, 'no_embedder', `${version.name}@${version.version} has no embedder`);
    if (expectedSha256 !== undefined && embedderSha256 !== expectedSha256) {
      throw new DomainError(422, 'no_embedder', `the embedder of ${version.name}@${version.version} is ${embedderSha256}, not ${expectedSha256}`);
    }
    let loading: Promise<FaceModels> | undefined;
    return { version, embedderSha256, load: () => (loading ??= this.files.forVersion(version)) };
  }

  private async photoEmbeddings(photos: EnrolmentPhotoRecord[], models: LazyFaceModels, counts: TrainingDataCounts): Promise<Map<string, Float32Array>> {
    const out = await this.embeddings.getMany(
      'photo',
      photos.map((p) => p.id),
      models.embedderSha256,
    );
    const missing = photos.filter((p) => !out.has(p.id));
    for (let i = 0; i < missing.length; i += REEMBED_BATCH) {
      const batch = missing.slice(i, i + REEMBED_BATCH);
      const bytes = await Promise.all(batch.map((p) => this.crops.enrolmentCrop(p.cropSha256).catch(() => undefined)));
      const readable = batch.filter((_, j) => bytes[j]);
      counts.unreadable += batch.length - readable.length;
      if (readable.length === 0) continue;
      const vectors = await this.faces.run({ op: 'embed-aligned', models: (await models.load()).paths, crops: bytes.filter((b): b is Buffer => !!b) });
      for (const [j, photo] of readable.entries()) {
        const vector = vectors[j];
        if (!vector) {
          counts.unreadable++;
          continue;
        }
        await this.embeddings.put('photo', photo.id, models.embedderSha256, vector);
        out.set(photo.id, vector);
        counts.reembedded++;
      }
    }
    return out;
  }
}

/** A version's embedder, with its models fetched on first use. */
export interface LazyFaceModels {
  version: ModelVersionRef;
  embedderSha256: string;
  load(): Promise<FaceModels>;
}
