import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ModelLoadError } from './errors';

const manifestSchema = z.object({
  files: z.array(z.object({ role: z.string(), path: z.string().optional() })),
  labels: z.array(z.string()).optional(),
  thresholds: z.object({ detection: z.number().optional(), match: z.number().optional() }).optional(),
});

/** Model paths and defaults read from a bundle folder (`manifest.json` + files by role). */
export interface BundleModels {
  models: { detector: string; landmarks: string; embedder: string; head?: string };
  labels?: string[];
  thresholds: { detection?: number; match?: number };
}

const DEFAULT_FILES = { detector: 'fr_detect.onnx', landmarks: 'fr_landmark.onnx', embedder: 'fr_feature.onnx' };

/**
 * Resolves a model folder such as `models/base`. With a `manifest.json`, files are found by role
 * (`detector`, `landmarks`, `embedder`, optional `head`); without one, the base file names are used.
 */
export async function readModelBundle(dir: string): Promise<BundleModels> {
  let text: string;
  try {
    text = await readFile(path.join(dir, 'manifest.json'), 'utf8');
  } catch {
    const at = (f: string) => path.join(dir, f);
    return {
      models: { detector: at(DEFAULT_FILES.detector), landmarks: at(DEFAULT_FILES.landmarks), embedder: at(DEFAULT_FILES.embedder) },
      thresholds: {},
    };
  }
  const parsed = manifestSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new ModelLoadError('bundle', `${dir}/manifest.json: ${parsed.error.message}`);
  const byRole = new Map(parsed.data.files.map((f) => [f.role, f.path]));
  const file = (role: keyof typeof DEFAULT_FILES) => path.join(dir, byRole.get(role) ?? DEFAULT_FILES[role]);
  const head = byRole.get('head');
  return {
    models: {
      detector: file('detector'),
      landmarks: file('landmarks'),
      embedder: file('embedder'),
      ...(head ? { head: path.join(dir, head) } : {}),
    },
    ...(head && parsed.data.labels ? { labels: parsed.data.labels } : {}),
    thresholds: parsed.data.thresholds ?? {},
  };
}
