import { createWriteStream, type WriteStream } from 'node:fs';

/**
 * What `edgeloop start` shows on its terminal: story lines (what happened, scrolling) above a live status block
 * (what is, redrawn in place) when stdout is a terminal; plain lines when it is not. Every line also goes to
 * the run's log file (`<data>/logs/start.log`), and the banner is kept so it can be shown again on demand.
 */
export class StoryTerminal {
  private live: string[] = [];
  private drawn = 0;
  private log?: WriteStream;
  private bannerLines: string[] = [];
  private capturing = false;

  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {}

  /** Redrawn in place only on a terminal; elsewhere the status is told as plain lines. */
  get tty(): boolean {
    return Boolean(this.out.isTTY);
  }

  /** From now on every line is appended to this file too. */
  logTo(file: string): void {
    this.log = createWriteStream(file, { flags: 'a' });
  }

  line(text: string, toStderr = false): void {
    this.log?.write(`${text}\n`);
    if (this.capturing) this.bannerLines.push(text);
    this.clearLive();
    (toStderr && !this.tty ? process.stderr : this.out).write(`${text}\n`);
    this.drawLive();
  }

  /** The block at the bottom of a terminal (ignored elsewhere). */
  setLive(lines: string[]): void {
    if (!this.tty) return;
    this.clearLive();
    this.live = lines;
    this.drawLive();
  }

  beginBanner(): void {
    this.bannerLines = [];
    this.capturing = true;
  }

  endBanner(): void {
    this.capturing = false;
  }

  /** The banner again (the `b` key): addresses, token location, dashboard link. */
  repeatBanner(): void {
    for (const text of this.bannerLines) this.line(text);
  }

  close(): Promise<void> {
    this.setLive([]);
    const log = this.log;
    this.log = undefined;
    return new Promise((done) => (log ? log.end(done) : done()));
  }

  private clearLive(): void {
    if (!this.tty || this.drawn === 0) return;
    this.out.write(`\x1b[${this.drawn}A\r\x1b[J`);
    this.drawn = 0;
  }

  private drawLive(): void {
    if (!this.tty || this.live.length === 0) return;
    const width = Math.max(20, (this.out.columns ?? 100) - 1);
    this.out.write(this.live.map((l) => `${l.length > width ? `${l.slice(0, width - 1)}…` : l}\n`).join(''));
    this.drawn = this.live.length;
  }
}

/** The one terminal of an `edgeloop start` run. */
export const story = new StoryTerminal();

/** A story line on stdout (and in the run's log). */
export function say(text: string): void {
  story.line(text);
}

/** A problem: stderr when not on a terminal, in the story either way (and in the run's log). */
export function warn(text: string): void {
  story.line(text, true);
}

/** A text progress bar: `[#######-------]  45%`. */
export function bar(fraction: number, width = 20): string {
  const f = Math.max(0, Math.min(1, fraction));
  const filled = Math.round(f * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(f * 100).toFixed(0).padStart(3)}%`;
}
