import { BUNDLE_PATH_PATTERN, MODEL_FILE_ROLES, type ModelFileRole, type ModelVersionRef, type SignedManifest } from '@edgeloop/contracts';
import { FacePipeline, readModelBundle } from '@edgeloop/vision';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { Logger } from '../logger';
import { enrolGallery } from '../pipeline/gallery';
import type { ModelStore } from '../store/model-store';

/** A face pipeline ready to serve frames, with the model version it is. */
export interface LoadedModel {
  ref: ModelVersionRef;
  /** An installed (downloaded, verified) version, or the base models folder shipped with the worker. */
  origin: 'store' | 'base';
  pipeline: FacePipeline;
  /** sha256 of each role's file, to recognise the same bundle named by a desired state. */
  files: Partial<Record<ModelFileRole, string>>;
  hasHead: boolean;
}

/** The roles the face pipeline loads; other files of a bundle (e.g. liveness) are neither downloaded nor kept. */
export const PIPELINE_ROLES = ['detector', 'landmarks', 'embedder', 'head'] as const satisfies readonly ModelFileRole[];
export const REQUIRED_ROLES = ['detector', 'landmarks', 'embedder'] as const satisfies readonly ModelFileRole[];

interface Thresholds {
  detection?: number;
  match?: number;
  margin?: number;
}

const baseManifestSchema = z.object({
  name: z.string().min(1).max(64),
  version: z.number().int().positive(),
  files: z.array(z.object({ role: z.string(), sha256: z.string().optional(), path: z.string().optional() })).default([]),
});

/** Name of the base folder's model when it has no manifest.json. */
export const UNNAMED_BASE: ModelVersionRef = { name: 'base', version: 1 };

/**
 * Builds face pipelines from the store or the base models folder: every session created and warmed up
 * (FacePipeline.load), the gallery enrolled into a head-less model when one is configured.
 */
export class PipelineLoader {
  private readonly logger = new Logger(PipelineLoader.name);

  constructor(
    private readonly store: ModelStore,
    private readonly options: { threads: number; modelsDir: string; galleryDir?: string },
  ) {}

  /**
   * Loads an installed version. When `running` serves the same detector, landmark and embedder files (by
   * sha256), its sessions are kept and only the new head is loaded and warmed up (a head-only switch).
   */
  async loadInstalled(signed: SignedManifest, running?: LoadedModel): Promise<LoadedModel> {
    const { manifest } = signed;
    const files: Partial<Record<ModelFileRole, string>> = {};
    for (const file of manifest.files) if ((PIPELINE_ROLES as readonly string[]).includes(file.role)) files[file.role] = file.sha256;
    const path = (role: ModelFileRole) => this.store.blobFile(files[role] as string);
    const models = {
      detector: path('detector'),
      landmarks: path('landmarks'),
      embedder: path('embedder'),
      ...(files.head ? { head: path('head') } : {}),
    };
    const labels = files.head ? manifest.labels : undefined;
    const ref = { name: manifest.name, version: manifest.version };
    const pipeline =
      running && sharesBackbone(running, files)
        ? await this.derive(running.pipeline, models.head, labels, manifest.thresholds)
        : await this.create(models, labels, manifest.thresholds);
    return { ref, origin: 'store', pipeline, files, hasHead: files.head !== undefined };
  }

  /** The base folder's version and its files by sha256 (from its manifest.json; none without one). */
  async describeBase(): Promise<{ ref: ModelVersionRef; files: Map<string, string> }> {
    const described = await readBaseManifest(this.options.modelsDir);
    const files = new Map<string, string>();
    for (const file of described?.files ?? []) {
      if (file.sha256 && file.path && BUNDLE_PATH_PATTERN.test(file.path)) files.set(file.sha256, join(this.options.modelsDir, file.path));
    }
    return { ref: described ? { name: described.name, version: described.version } : UNNAMED_BASE, files };
  }

  async loadBase(): Promise<LoadedModel> {
    const dir = this.options.modelsDir;
    const bundle = await readModelBundle(dir);
    const described = await readBaseManifest(dir);
    const files: Partial<Record<ModelFileRole, string>> = {};
    for (const file of described?.files ?? []) {
      if ((MODEL_FILE_ROLES as readonly string[]).includes(file.role) && file.sha256) files[file.role as ModelFileRole] = file.sha256;
    }
    const pipeline = await this.create(bundle.models, bundle.labels, bundle.thresholds);
    const ref = described ? { name: described.name, version: described.version } : UNNAMED_BASE;
    return { ref, origin: 'base', pipeline, files, hasHead: bundle.models.head !== undefined };
  }

  /** A pipeline on `running`'s sessions with the new head and thresholds (and the gallery's head when it has none). */
  private async derive(running: FacePipeline, head: string | undefined, labels: string[] | undefined, thresholds: Thresholds): Promise<FacePipeline> {
    const pipeline = await running.withHead({ ...(head ? { head, labels: labels ?? [] } : {}), ...pipelineThresholds(thresholds) });
    return head ? pipeline : this.withGallery(pipeline);
  }

  private async create(
    models: { detector: string; landmarks: string; embedder: string; head?: string },
    labels: string[] | undefined,
    thresholds: Thresholds,
  ): Promise<FacePipeline> {
    const pipeline = await FacePipeline.load({
      models,
      ...(models.head ? { labels: labels ?? [] } : {}),
      intraOpNumThreads: this.options.threads,
      includeEmbeddings: true,
      ...pipelineThresholds(thresholds),
    });
    return models.head ? pipeline : this.withGallery(pipeline);
  }

  /** A head-less pipeline gets the head enrolled from the gallery folder, when one is configured. */
  private async withGallery(pipeline: FacePipeline): Promise<FacePipeline> {
    if (!this.options.galleryDir) return pipeline;
    try {
      const gallery = await enrolGallery(pipeline, this.options.galleryDir);
      await pipeline.setHead(gallery.head, gallery.labels);
      this.logger.info(`enrolled ${gallery.labels.length} identities (${gallery.enrolled} photos): ${gallery.labels.join(', ')}`);
    } catch (err) {
      await pipeline.release();
      throw err;
    }
    return pipeline;
  }
}

/** True when `running` was loaded from the same detector, landmark and embedder blobs as `files`. */
export function sharesBackbone(running: LoadedModel, files: Partial<Record<ModelFileRole, string>>): boolean {
  return REQUIRED_ROLES.every((role) => running.files[role] !== undefined && running.files[role] === files[role]);
}

function pipelineThresholds(thresholds: Thresholds): { detectionThreshold?: number; matchThreshold?: number; minMargin?: number } {
  return {
    ...(thresholds.detection !== undefined ? { detectionThreshold: clamp(thresholds.detection, 0.01, 0.99) } : {}),
    ...(thresholds.match !== undefined ? { matchThreshold: clamp(thresholds.match, -0.99, 0.99) } : {}),
    ...(thresholds.margin !== undefined ? { minMargin: clamp(thresholds.margin, 0, 1.99) } : {}),
  };
}

async function readBaseManifest(dir: string): Promise<z.infer<typeof baseManifestSchema> | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, 'manifest.json'), 'utf8');
  } catch {
    return undefined;
  }
  const parsed = baseManifestSchema.safeParse(JSON.parse(text));
  return parsed.success ? parsed.data : undefined;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
