/**
 * A process's own start-up settings, for every way it is started (`npm start`, a plain `node …/main.js`, a
 * container): glibc reads its `MALLOC_*` tunables and V8 its heap flags only when a process starts, so when
 * one is missing the process replaces itself (execve: same pid, same stdio, nothing of it survives) with the
 * same command plus what is missing. A value already set in the environment or on the command line
 * (`NODE_OPTIONS`, node's own flags, in either spelling) is kept as it is, so an operator can still choose
 * another one. The cloud and the edge worker each name their defaults (apps/cloud/src/app,
 * apps/edge/src/runtime).
 */

export interface ProcessDefaults {
  /** Environment variables set when absent (read by glibc or node at start-up). */
  env?: Readonly<Record<string, string>>;
  /** Node/V8 flags added before the script when not given. */
  nodeFlags?: readonly { flag: string; value: string }[];
}

export interface ProcessLaunch {
  env: NodeJS.ProcessEnv;
  execArgv: readonly string[];
  /** The node binary and the script with its arguments (process.argv). */
  argv: readonly string[];
  execPath: string;
}

export interface Relaunch {
  file: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * The command that starts the process again with the defaults it lacks, or null when nothing is missing (so
 * the relaunched process never relaunches again). Pure: `applyProcessDefaults` hands it to process.execve.
 */
export function relaunchWithDefaults(current: ProcessLaunch, defaults: ProcessDefaults): Relaunch | null {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(current.env)) if (value !== undefined) env[key] = value;
  let missing = false;
  for (const [key, value] of Object.entries(defaults.env ?? {})) {
    if (env[key] !== undefined) continue;
    env[key] = value;
    missing = true;
  }
  const flags = missingNodeFlags([...current.execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)], defaults);
  if (flags.length > 0) missing = true;
  if (!missing) return null;
  const [, script, ...args] = current.argv;
  return { file: current.execPath, args: [current.execPath, ...current.execArgv, ...flags, script!, ...args], env };
}

/**
 * The default node flags (as `--flag=value`) that `given` (command-line arguments or NODE_OPTIONS words) does not set,
 * in either spelling of the flag's name: what a relaunch adds, and what a process started with an IPC channel (which
 * does not relaunch) must be given on its command line.
 */
export function missingNodeFlags(given: readonly string[], defaults: ProcessDefaults): string[] {
  const flags: string[] = [];
  for (const { flag, value } of defaults.nodeFlags ?? []) {
    const spellings = [flag, `--${flag.slice(2).replace(/-/g, '_')}`];
    if (given.some((arg) => spellings.some((s) => arg === s || arg.startsWith(`${s}=`)))) continue;
    flags.push(`${flag}=${value}`);
  }
  return flags;
}

/**
 * Re-executes this process with the defaults it lacks (Linux and Node ≥ 22.15, where process.execve exists;
 * elsewhere it runs as started). A process with an IPC channel to its parent runs as started too: node opens
 * the channel close-on-exec, so the relaunched process could not reopen it. Call before anything else is
 * loaded: nothing of this process survives.
 */
export function applyProcessDefaults(name: string, defaults: ProcessDefaults): void {
  const execve = (process as { execve?: (file: string, args: string[], env: Record<string, string>) => never }).execve;
  if (typeof execve !== 'function' || process.platform !== 'linux' || process.channel) return;
  const relaunch = relaunchWithDefaults({ env: process.env, execArgv: process.execArgv, argv: process.argv, execPath: process.execPath }, defaults);
  if (!relaunch) return;
  try {
    execve.call(process, relaunch.file, relaunch.args, relaunch.env);
  } catch (err) {
    process.stderr.write(`${name}: cannot restart with the memory defaults (${(err as Error).message}); running without them\n`);
  }
}
