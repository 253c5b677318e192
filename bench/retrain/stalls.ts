/**
 * Which code held the cloud's event loop: for every late tick of the loop-lag timer (loop-lag.ts) during a
 * profiled run, the CPU-profile samples of the main thread in the time the loop was held, summed by the
 * cloud, libs and queue/S3 frames on their stacks (inclusive) and by the function that was running (self).
 *
 *   BENCH_RETRAIN_PROFILE_FILE=retrain.cpuprofile npm run bench:retrain -- --sizes 1000x10 --runs 1 --profile
 *   node dist/bench/retrain/stalls.js retrain.cpuprofile [--min-ms 30]
 *
 * The run writes the profile there and its late ticks beside it (`<file>.late.json`). On a loaded machine a
 * late tick may also be the thread waiting for a core: its samples are then few or idle.
 */
import { readFileSync } from 'node:fs';
import type { CallFrame, CpuProfile } from '../common/cpu-profile';

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** Frames worth naming on a stack: our code, and the libraries that talk to SQL, Redis and S3. */
const NAMED = /\/(apps|libs)\/|bullmq\/dist\/cjs\/classes\/|minio\/dist\/main\/|express\/lib\//;
const TOP = 5;

function main(argv: string[]): void {
  const file = argv[0];
  if (!file) throw new Error('usage: stalls.js PROFILE [--min-ms 30]');
  const minIndex = argv.indexOf('--min-ms');
  const minMs = minIndex >= 0 ? Number(argv[minIndex + 1]) : 30;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile & { nodes: ProfileNode[]; startTime: number };
  const late = JSON.parse(readFileSync(`${file}.late.json`, 'utf8')) as Array<{ at: number; ms: number; monoUs: number }>;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const stackOf = (id: number): CallFrame[] => {
    const frames: CallFrame[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) frames.push(byId.get(at)!.callFrame);
    return frames;
  };
  const name = (f: CallFrame) => `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|apps|libs)\//, '$1/')}:${f.lineNumber + 1}`;
  // sample i is taken at startTime + the sum of the deltas up to it (µs, the monotonic clock)
  const times: number[] = [];
  let t = profile.startTime;
  for (const delta of profile.timeDeltas) times.push((t += delta));
  for (const tick of late) {
    if (tick.ms < minMs) continue;
    const [from, to] = [tick.monoUs - (tick.ms + 20) * 1000, tick.monoUs];
    const inclusive = new Map<string, number>();
    const self = new Map<string, number>();
    let sampled = 0;
    let idle = 0;
    for (let i = 0; i < times.length; i++) {
      if (times[i] < from || times[i] > to) continue;
      const ms = (profile.timeDeltas[i + 1] ?? 1000) / 1000;
      const stack = stackOf(profile.samples[i]);
      sampled += ms;
      if (stack[0].functionName === '(idle)') {
        idle += ms;
        continue;
      }
      self.set(name(stack[0]), (self.get(name(stack[0])) ?? 0) + ms);
      for (const frame of new Set(stack.filter((f) => NAMED.test(f.url)).map(name))) inclusive.set(frame, (inclusive.get(frame) ?? 0) + ms);
    }
    const top = (m: Map<string, number>) =>
      [...m]
        .sort((a, b) => b[1] - a[1])
        .slice(0, TOP)
        .map(([k, v]) => `${k} ${v.toFixed(0)} ms`)
        .join(' | ');
    process.stdout.write(
      `loop ${tick.ms} ms late at ${new Date(tick.at).toISOString()} (samples ${sampled.toFixed(0)} ms, idle ${idle.toFixed(0)} ms)\n` +
        `  on the stack: ${top(inclusive) || '-'}\n  running: ${top(self) || '-'}\n`,
    );
  }
}

main(process.argv.slice(2));
