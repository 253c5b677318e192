import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { FrameSource, pause } from './frame-source';

const imageExtensions = new Set(['.jpg', '.jpeg', '.png', '.webp']);

/** Plays the images of a folder in name order at a fixed rate, looping when asked to. */
export class FolderSource extends FrameSource {
  readonly name: string;

  constructor(
    private readonly dir: string,
    private readonly options: { fps: number; loop: boolean },
  ) {
    super();
    this.name = `folder:${dir}`;
  }

  protected async run(): Promise<void> {
    const files = (await readdir(this.dir)).filter((f) => imageExtensions.has(extname(f).toLowerCase())).sort();
    if (files.length === 0) throw new Error(`no images (.jpg, .png, .webp) in ${this.dir}`);
    const interval = 1000 / this.options.fps;
    do {
      for (const file of files) {
        if (this.stopped) return;
        const started = Date.now();
        this.push(await readFile(join(this.dir, file)), file);
        await pause(Math.max(0, interval - (Date.now() - started)));
      }
    } while (this.options.loop && !this.stopped);
  }
}
