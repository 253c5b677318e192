import { buildIdentityHead, computePrototypes, type FacePipeline, type LabelledEmbedding } from '@edgeloop/vision';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { Logger } from '../logger';

const imageExtensions = new Set(['.jpg', '.jpeg', '.png', '.webp']);

export interface Gallery {
  labels: string[];
  head: Uint8Array;
  enrolled: number;
}

/**
 * Enrols a gallery folder (one sub-folder per person, its photos inside): the largest face of each photo is
 * embedded, each person's prototype is the normalised mean, and the identity head is built from them.
 */
export async function enrolGallery(pipeline: FacePipeline, dir: string): Promise<Gallery> {
  const logger = new Logger('Gallery');
  const samples: LabelledEmbedding[] = [];
  const people = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  for (const person of people) {
    const photos = (await readdir(join(dir, person))).filter((f) => imageExtensions.has(extname(f).toLowerCase())).sort();
    for (const photo of photos) {
      const faces = await pipeline.embedFaces(await readFile(join(dir, person, photo)));
      if (faces.length === 0) {
        logger.warn(`no face in ${person}/${photo}; skipped`);
        continue;
      }
      const largest = faces.reduce((a, b) => (a.box.width * a.box.height >= b.box.width * b.box.height ? a : b));
      samples.push({ label: person, embedding: largest.embedding });
    }
  }
  if (samples.length === 0) throw new Error(`no face could be enrolled from ${dir}`);
  const prototypes = computePrototypes(samples);
  return { labels: prototypes.labels, head: buildIdentityHead(prototypes), enrolled: samples.length };
}
