import type { CallFrame, CpuProfile } from '../common/cpu-profile';

/** One stretch of the main thread busy without an idle sample: when, how long, and where its samples were. */
export interface BusyStretch {
  /** ms from the profile's start. */
  atMs: number;
  ms: number;
  /** Self time of the stretch by origin, largest first (ms). */
  byOrigin: Array<{ origin: string; ms: number }>;
  /** Self time by the innermost cloud or libs function on the stack (`(none)`: no such frame), largest first. */
  byCloudFrame: Array<{ fn: string; ms: number }>;
}

/**
 * The main thread's stretches of at least `minMs` with no idle sample — what a `/health` request that arrives
 * meanwhile waits for — longest first, at most `limit`. The samples' own time is their time delta (the sampler's
 * interval, longer when the thread could not be interrupted). `cloudCode` tells a frame of the cloud's or the
 * libraries' compiled code.
 */
export function busyStretches(
  profile: CpuProfile,
  originOf: (frame: CallFrame) => string,
  cloudCode: (frame: CallFrame) => boolean,
  minMs: number,
  limit: number,
): BusyStretch[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const cloudFrameOf = new Map<number, string>();
  const cloudFrame = (id: number): string => {
    let name = cloudFrameOf.get(id);
    if (name !== undefined) return name;
    name = '(none)';
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      if (cloudCode(frame)) {
        name = `${frame.functionName || '(anonymous)'} ${frame.url.slice(frame.url.lastIndexOf('/') + 1)}:${frame.lineNumber + 1}`;
        break;
      }
    }
    cloudFrameOf.set(id, name);
    return name;
  };
  const stretches: BusyStretch[] = [];
  let at = 0;
  let start = 0;
  let samples: Array<{ id: number; ms: number }> = [];
  const close = () => {
    const ms = samples.reduce((sum, s) => sum + s.ms, 0);
    if (ms >= minMs) {
      const origins = new Map<string, number>();
      const frames = new Map<string, number>();
      for (const s of samples) {
        const origin = originOf(byId.get(s.id)!.callFrame);
        origins.set(origin, (origins.get(origin) ?? 0) + s.ms);
        const fn = cloudFrame(s.id);
        frames.set(fn, (frames.get(fn) ?? 0) + s.ms);
      }
      stretches.push({
        atMs: round(start),
        ms: round(ms),
        byOrigin: largest(origins, 4).map(([origin, ms]) => ({ origin, ms })),
        byCloudFrame: largest(frames, 4).map(([fn, ms]) => ({ fn, ms })),
      });
    }
    samples = [];
  };
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    at += ms;
    if (byId.get(id)!.callFrame.functionName === '(idle)') {
      close();
      return;
    }
    if (samples.length === 0) start = at - ms;
    samples.push({ id, ms });
  });
  close();
  return stretches.sort((a, b) => b.ms - a.ms).slice(0, limit);
}

function largest(map: Map<string, number>, n: number): Array<[string, number]> {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, ms]) => [name, round(ms)]);
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}
