import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { FrameSource, type FrameSourceOptions } from './frame-source';

const imageExtensions = new Set(['.jpg', '.jpeg', '.png', '.webp']);

export interface FolderSourceOptions extends FrameSourceOptions {
  /** Playback rate. */
  fps: number;
  loop: boolean;
}

/** Plays the images of a folder in name order at a fixed rate, looping when asked to. */
export class FolderSource extends FrameSource<Buffer> {
  readonly name: string;

  constructor(
    private readonly dir: string,
    private readonly options: FolderSourceOptions,
  ) {
    super(options);
    this.name = `folder:${dir}`;
  }

  protected async run(): Promise<void> {
    const files = (await readdir(this.dir)).filter((f) => imageExtensions.has(extname(f).toLowerCase())).sort();
    if (files.length === 0) throw new Error(`no images (.jpg, .png, .webp) in ${this.dir}`);
    const interval = 1000 / this.options.fps;
    let due = performance.now();
    do {
      for (const file of files) {
        // Read before waiting, so reading time does not stretch the interval.
        const image = await readFile(join(this.dir, file));
        await this.sleep(Math.max(0, due - performance.now()));
        if (this.stopped) return;
        this.push(image, file);
        // Counted from this push: a late frame is not made up for with a short interval.
        due = performance.now() + interval;
      }
    } while (this.options.loop && !this.stopped);
  }
}
