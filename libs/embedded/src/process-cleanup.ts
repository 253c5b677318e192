/**
 * Synchronous last-moment cleanups (signal child servers, remove temp dirs) that run when this
 * process exits normally, and on SIGINT/SIGTERM/SIGHUP when nothing else handles the signal.
 * Nothing asynchronous can run at that point, so each cleanup must be synchronous.
 *
 * Inside Jest, test code sees a copy of `process` whose events never fire; there the children's
 * parent-death signal and `stopAllStarted()` do the work.
 */
type Cleanup = () => void;

/** Marks our signal listeners, so that a second copy of this module (e.g. bundled twice) is recognised. */
const OUR_LISTENER = Symbol.for('edgeloop.embedded.signal-listener');
type MarkedListener = ((signal: NodeJS.Signals) => void) & { [OUR_LISTENER]?: true };

const cleanups: { cleanup: Cleanup; order: number }[] = [];
let installed = false;
const SHUTDOWN_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function runCleanups(): void {
  for (const { cleanup } of cleanups) {
    try {
      cleanup();
    } catch {
      // best effort: the process is going away
    }
  }
}

const isOurs = (listener: unknown): boolean => (listener as MarkedListener)[OUR_LISTENER] === true;

const onShutdownSignal: MarkedListener = (signal) => {
  // When the application handles this signal itself, it owns the shutdown (and stops the servers
  // gracefully); the exit hook is still the backstop.
  if (process.listeners(signal).some((listener) => !isOurs(listener))) return;
  runCleanups();
  process.removeListener(signal, onShutdownSignal);
  // Restore the default behaviour (terminate by this signal) that our listeners displaced.
  if (!process.listeners(signal).some(isOurs)) process.kill(process.pid, signal);
};
onShutdownSignal[OUR_LISTENER] = true;

/** Registers a cleanup; lower `order` runs first (signal servers, then remove their files). */
export function onProcessExit(cleanup: Cleanup, order = 0): void {
  cleanups.push({ cleanup, order });
  cleanups.sort((a, b) => a.order - b.order);
  if (installed) return;
  installed = true;
  process.on('exit', runCleanups);
  for (const signal of SHUTDOWN_SIGNALS) process.on(signal, onShutdownSignal);
}
