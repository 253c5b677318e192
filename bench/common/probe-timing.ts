/**
 * What the probe hooks that the benches `--require` into the cloud child have in common: timing
 * counters, and wrappers put around methods of the compiled cloud's classes (no cloud source changes).
 * Loaded inside the cloud process.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';

/** The compiled cloud, `dist/apps/cloud/src`, seen from `dist/bench/common`. */
const DIST_CLOUD = path.join(__dirname, '..', '..', 'apps', 'cloud', 'src');

export interface TimedStat {
  count: number;
  totalMs: number;
  maxMs: number;
}

export function addTo(map: Map<string, TimedStat>, key: string, ms: number): void {
  let stat = map.get(key);
  if (!stat) map.set(key, (stat = { count: 0, totalMs: 0, maxMs: 0 }));
  stat.count++;
  stat.totalMs += ms;
  stat.maxMs = Math.max(stat.maxMs, ms);
}

/** `select d.id, d.name, … where d.id = $1` → one line of at most `maxChars` characters. */
export function statementKey(text: string, maxChars: number): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, maxChars);
}

/** The prototype of a compiled cloud class, e.g. `('services/rollout.service.js', 'RolloutService')`. */
export function cloudPrototype(modulePath: string, className: string): Record<string, unknown> {
  // the cloud's classes carry decorator metadata for Nest's injection: the polyfill must be there before they load
  require('reflect-metadata');
  const exported = require(path.join(DIST_CLOUD, modulePath)) as Record<string, { prototype: Record<string, unknown> } | undefined>;
  const proto = exported[className]?.prototype;
  if (!proto) throw new Error(`cloud probe: ${modulePath} exports no class ${className}`);
  return proto;
}

/** When a wrapped method is timed, and where its time goes. */
export interface CallTimer<State = unknown> {
  recording(): boolean;
  /** Called before each timed call; what it returns is handed to `ended`. */
  started?(): State;
  ended(ms: number, state: State): void;
}

type AnyMethod = (this: unknown, ...args: unknown[]) => unknown;

/**
 * Wraps `proto[method]` (sync or async) so that each call made while the timer records is timed to its
 * settlement; calls that overlap are each timed whole. Outside a window the wrapper only tests a flag.
 */
export function timeCalls<State>(proto: Record<string, unknown>, method: string, name: string, timer: CallTimer<State>): void {
  const original = proto[method] as AnyMethod | undefined;
  if (typeof original !== 'function') throw new Error(`cloud probe: ${name} is not a method`);
  proto[method] = function (this: unknown, ...args: unknown[]) {
    if (!timer.recording()) return original.apply(this, args);
    const state = timer.started?.() as State;
    const started = performance.now();
    const done = () => timer.ended(performance.now() - started, state);
    let result: unknown;
    try {
      result = original.apply(this, args);
    } catch (err) {
      done();
      throw err;
    }
    if (result instanceof Promise) return result.finally(done);
    done();
    return result;
  };
}
