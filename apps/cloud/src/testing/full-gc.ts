import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A full garbage collection of this process, now. For a test that times another process from this one: a major
 * collection here (with its parallel marking threads, 100–200 ms of CPU in a test's large heap) takes cores from the
 * process being timed, so it is run before the timed window rather than left to fall inside it. `gc` is V8's own,
 * reached as node's own tests do without `--expose-gc` on the command line: the flag set at run time, the function
 * taken from a new context.
 */
export function collectGarbageNow(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}
