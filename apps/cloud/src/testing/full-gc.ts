import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A full garbage collection of this process, now. For a test that times something from this process (another
 * process's answers, or its own event loop): a major collection of a test's large heap (with V8's helper threads,
 * 100–200 ms of CPU) falling in the timed window is the test's, not what it times, so it is run before the window. `gc`
 * is V8's own, reached without `--expose-gc` on the command line: the flag set at run time, the function taken from a
 * new context.
 */
export function collectGarbageNow(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}
