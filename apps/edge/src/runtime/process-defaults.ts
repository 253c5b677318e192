/**
 * The edge worker's own memory settings, for every way it is started (`npm start`, a plain
 * `node dist/apps/edge/src/main.js`, the container): glibc reads its `MALLOC_*` tunables and V8 its heap
 * flags only when a process starts, so when one is missing the worker replaces itself (execve: same pid,
 * same stdio, nothing loaded yet) with the same command plus what is missing. A value already set in the
 * environment or on the command line (`NODE_OPTIONS`, node's own flags) is kept as it is, so an operator
 * can still choose another one. Figures: docs/edge.md, "Memory".
 */

/** glibc malloc: two arenas instead of eight per core, memory given back to the kernel from 128 KiB. */
export const MALLOC_DEFAULTS: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_TRIM_THRESHOLD_: '131072',
};

/** V8: a 1 MB young generation (semi-space) suits one frame at a time; the default grows it to 16 MB. */
export const NODE_FLAG_DEFAULTS: readonly { flag: string; value: string }[] = [{ flag: '--max-semi-space-size', value: '1' }];

export interface ProcessLaunch {
  env: NodeJS.ProcessEnv;
  execArgv: readonly string[];
  /** The node binary and the script with its arguments (process.argv). */
  argv: readonly string[];
  execPath: string;
}

/**
 * The command that starts this worker again with the defaults it lacks, or null when nothing is missing.
 * Pure: main.ts hands it to process.execve.
 */
export function relaunchWithDefaults(current: ProcessLaunch): { file: string; args: string[]; env: Record<string, string> } | null {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(current.env)) if (value !== undefined) env[key] = value;
  let missing = false;
  for (const [key, value] of Object.entries(MALLOC_DEFAULTS)) {
    if (env[key] !== undefined) continue;
    env[key] = value;
    missing = true;
  }
  const given = [...current.execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)];
  const flags: string[] = [];
  for (const { flag, value } of NODE_FLAG_DEFAULTS) {
    const spellings = [flag, flag.replace(/-/g, '_').replace(/^__/, '--')];
    if (given.some((arg) => spellings.some((s) => arg === s || arg.startsWith(`${s}=`)))) continue;
    flags.push(`${flag}=${value}`);
    missing = true;
  }
  if (!missing) return null;
  const [, script, ...args] = current.argv;
  return { file: current.execPath, args: [current.execPath, ...current.execArgv, ...flags, script, ...args], env };
}

/**
 * Re-executes the worker with the defaults it lacks (Linux and Node ≥ 22.15, where process.execve exists;
 * elsewhere it runs as started). Call before anything is loaded: nothing of this process survives.
 */
export function applyProcessDefaults(): void {
  const execve = (process as { execve?: (file: string, args: string[], env: Record<string, string>) => never }).execve;
  if (typeof execve !== 'function' || process.platform !== 'linux') return;
  const relaunch = relaunchWithDefaults({ env: process.env, execArgv: process.execArgv, argv: process.argv, execPath: process.execPath });
  if (!relaunch) return;
  try {
    execve.call(process, relaunch.file, relaunch.args, relaunch.env);
  } catch (err) {
    process.stderr.write(`edgeloop edge: cannot restart with the memory defaults (${(err as Error).message}); running without them\n`);
  }
}
