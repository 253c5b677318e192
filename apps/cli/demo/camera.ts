/** A running demo camera: `play` switches what it shows from the next frame on. */
export interface PushCamera {
  play(frames: Buffer[]): void;
  /** True once `stop` was called (the demo is shutting down). */
  readonly stopped: boolean;
  stop(): void;
}

/**
 * A demo camera that pushes JPEG frames to an edge worker's HTTP push source at a fixed rate; after
 * `changeAfterMs` it switches to the second set of frames (a lighting change). Later scenes of the demo
 * (the loop story) switch its frames with `play`.
 */
export function startPushCamera(options: {
  url: string;
  /** Bearer token of the worker's push endpoint. */
  token: string;
  fps: number;
  normal: Buffer[];
  changed: Buffer[];
  changeAfterMs: number;
  onChange: () => void;
}): PushCamera {
  const started = Date.now();
  let index = 0;
  let changed = false;
  let busy = false;
  let stopped = false;
  let frames = options.normal;
  const timer = setInterval(() => {
    if (busy) return;
    if (!changed && Date.now() - started >= options.changeAfterMs) {
      changed = true;
      frames = options.changed;
      index = 0;
      options.onChange();
    }
    const frame = frames[index++ % frames.length];
    busy = true;
    fetch(options.url, { method: 'POST', body: new Uint8Array(frame), headers: { 'content-type': 'image/jpeg', authorization: `Bearer ${options.token}` } })
      .then((res) => res.arrayBuffer())
      .catch(() => undefined)
      .finally(() => (busy = false));
  }, 1000 / options.fps);
  return {
    play(next: Buffer[]) {
      if (next.length === 0) return;
      // a scene played before the lighting change would be replaced by it: the change counts as done
      changed = true;
      frames = next;
      index = 0;
    },
    get stopped() {
      return stopped;
    },
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
