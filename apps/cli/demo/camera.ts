/**
 * A demo camera that pushes JPEG frames to an edge worker's HTTP push source at a fixed rate; after
 * `changeAfterMs` it switches to the second set of frames (a lighting change).
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
}): { stop(): void } {
  const started = Date.now();
  let index = 0;
  let changed = false;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    if (!changed && Date.now() - started >= options.changeAfterMs) {
      changed = true;
      index = 0;
      options.onChange();
    }
    const frames = changed ? options.changed : options.normal;
    const frame = frames[index++ % frames.length];
    busy = true;
    fetch(options.url, { method: 'POST', body: new Uint8Array(frame), headers: { 'content-type': 'image/jpeg', authorization: `Bearer ${options.token}` } })
      .then((res) => res.arrayBuffer())
      .catch(() => undefined)
      .finally(() => (busy = false));
  }, 1000 / options.fps);
  return { stop: () => clearInterval(timer) };
}
