import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { samplesDir, STRANGERS } from './demo-data';

/** The person the demo gallery does not know, who starts passing a demo camera after the drift. */
export const NEWCOMER = { name: 'nicolas-cage', displayName: 'Nicolas Cage', photos: ['cage.jpg', 'cage2_crop.jpg'] } as const;

type Image = ReturnType<typeof sharp>;

/** The same two photos as a camera would see them on different days: mirrored, darker, brighter, softer. */
const LOOKS: Array<{ name: string; apply: (image: Image) => Image }> = [
  { name: 'plain', apply: (i) => i },
  { name: 'mirrored', apply: (i) => i.flop() },
  { name: 'darker', apply: (i) => i.modulate({ brightness: 0.8 }) },
  { name: 'brighter', apply: (i) => i.modulate({ brightness: 1.2 }) },
  { name: 'soft', apply: (i) => i.blur(1) },
  { name: 'mirrored-dim', apply: (i) => i.flop().modulate({ brightness: 0.9 }) },
];

/** What the demo camera shows in the scenes of the loop story. */
export interface NewcomerScenes {
  /** The newcomer walking past with strangers: two newcomer frames to one stranger frame. */
  passing: Buffer[];
  /** The newcomer and franck, for after the new head is live: both should be named. */
  back: Buffer[];
}

/** Builds (once, cached as JPEGs under `cacheDir`) the frames of the story's scenes. */
export async function newcomerScenes(repoRoot: string, cacheDir: string, franck: Buffer[]): Promise<NewcomerScenes> {
  const samples = samplesDir(repoRoot);
  const dir = join(cacheDir, 'newcomer');
  mkdirSync(dir, { recursive: true });
  const newcomer: Buffer[] = [];
  for (const look of LOOKS) {
    for (const photo of NEWCOMER.photos) {
      const out = join(dir, `${look.name}-${photo}`);
      if (!existsSync(out))
        writeFileSync(
          out,
          await look
            .apply(sharp(readFileSync(join(samples, photo))))
            .jpeg({ quality: 90 })
            .toBuffer(),
        );
      newcomer.push(readFileSync(out));
    }
  }
  const strangers = STRANGERS.map((photo) => readFileSync(join(samples, photo)));
  const passing: Buffer[] = [];
  newcomer.forEach((frame, i) => {
    passing.push(frame);
    if (i % 2 === 1) passing.push(strangers[((i - 1) / 2) % strangers.length]);
  });
  const back: Buffer[] = [];
  newcomer.forEach((frame, i) => back.push(frame, franck[i % franck.length]));
  return { passing, back };
}
