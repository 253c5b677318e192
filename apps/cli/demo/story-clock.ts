/** The demo is shutting down: the story ends quietly. */
export class StoryStopped extends Error {
  constructor() {
    super('the demo is stopping');
  }
}

/** Waits that end early (with StoryStopped) once the demo stops. */
export class StoryClock {
  constructor(private readonly stopped: () => boolean) {}

  get isStopped(): boolean {
    return this.stopped();
  }

  async sleep(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (this.stopped()) throw new StoryStopped();
      await new Promise((r) => setTimeout(r, Math.min(500, end - Date.now())));
    }
    if (this.stopped()) throw new StoryStopped();
  }
}

/** Story lines, tagged like the other lines of `edgeloop start` (`camera | …`, `webhook| …`). */
export class StoryLog {
  constructor(
    private readonly report: (line: string) => void,
    private readonly warning: (line: string) => void,
  ) {}

  say(tag: string, text: string): void {
    this.report(`${tag.padEnd(7)}| ${text}`);
  }

  warn(tag: string, text: string): void {
    this.warning(`${tag.padEnd(7)}| ${text}`);
  }
}
