/**
 * The cloud's own V8 settings, for every way it is started (`npm start`, a plain
 * `node dist/apps/cloud/src/main.js`, the container). V8 reads its heap flags only when a process starts,
 * so when one is missing main.ts replaces the process (execve: same pid, same stdio, nothing loaded yet)
 * with the same command plus what is missing, as the edge worker does (apps/edge/src/runtime). A flag
 * already given on the command line or in `NODE_OPTIONS` is kept as it is, so an operator can still choose
 * another value. Figures: docs/benchmarks.md, "Cloud memory".
 */

/**
 * The young generation (semi-space) grows with what survives its collections; booting Nest, the queues and
 * the SQL client makes it grow to 32 MB per half and V8 keeps that memory after the boot: 60–75 MB of the
 * idle cloud's RSS held by two near-empty semi-spaces. 8 MB per half keeps the idle cloud ≈ 60 MB smaller.
 */
export const CLOUD_NODE_FLAG_DEFAULTS: readonly { flag: string; value: string }[] = [{ flag: '--max-semi-space-size', value: '8' }];

export interface ProcessLaunch {
  env: NodeJS.ProcessEnv;
  execArgv: readonly string[];
  /** The node binary and the script with its arguments (process.argv). */
  argv: readonly string[];
  execPath: string;
}

/**
 * The command that starts the cloud again with the flags it lacks, or null when nothing is missing (so the
 * relaunched process never relaunches again). Pure: main.ts hands it to process.execve.
 */
export function relaunchWithDefaults(current: ProcessLaunch): { file: string; args: string[]; env: Record<string, string> } | null {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(current.env)) if (value !== undefined) env[key] = value;
  const given = [...current.execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)];
  const flags: string[] = [];
  for (const { flag, value } of CLOUD_NODE_FLAG_DEFAULTS) {
    const spellings = [flag, `--${flag.slice(2).replace(/-/g, '_')}`];
    if (given.some((arg) => spellings.some((s) => arg === s || arg.startsWith(`${s}=`)))) continue;
    flags.push(`${flag}=${value}`);
  }
  if (flags.length === 0) return null;
  const [, script, ...args] = current.argv;
  return { file: current.execPath, args: [current.execPath, ...current.execArgv, ...flags, script, ...args], env };
}

/**
 * Re-executes the cloud with the flags it lacks (Linux and Node ≥ 22.15, where process.execve exists, and
 * no IPC channel to keep; otherwise it runs as started). Call before anything is loaded: nothing of this
 * process survives.
 */
export function applyProcessDefaults(): void {
  const execve = (process as { execve?: (file: string, args: string[], env: Record<string, string>) => never }).execve;
  if (typeof execve !== 'function' || process.platform !== 'linux') return;
  // a parent that talks to the cloud over an IPC channel (a bench's probe hook) would lose it: node opens
  // the channel close-on-exec, so the relaunched process could not reopen it
  if (process.channel) return;
  const relaunch = relaunchWithDefaults({ env: process.env, execArgv: process.execArgv, argv: process.argv, execPath: process.execPath });
  if (!relaunch) return;
  try {
    execve.call(process, relaunch.file, relaunch.args, relaunch.env);
  } catch (err) {
    process.stderr.write(`edgeloop cloud: cannot restart with the memory defaults (${(err as Error).message}); running without them\n`);
  }
}
