/**
 * Synchronous last-moment cleanups (signal child servers, remove temp dirs) that run when this
 * process exits normally, and on SIGINT/SIGTERM/SIGHUP when nothing else handles the signal.
 * Nothing asynchronous can run at that point, so each cleanup must be synchronous.
 */
type Cleanup = () => void;

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

function onShutdownSignal(signal: NodeJS.Signals): void {
  // When the application handles this signal itself, it owns the shutdown (and stops the harness
  // gracefully); the exit hook is still the backstop.
  if (process.listenerCount(signal) > 1) return;
  runCleanups();
  // Restore the default behaviour (terminate by this signal) that our listener displaced.
  process.removeListener(signal, onShutdownSignal);
  process.kill(process.pid, signal);
}

/** Registers a cleanup; lower `order` runs first (signal servers, then remove their files). */
export function onProcessExit(cleanup: Cleanup, order = 0): void {
  cleanups.push({ cleanup, order });
  cleanups.sort((a, b) => a.order - b.order);
  if (installed) return;
  installed = true;
  process.on('exit', runCleanups);
  for (const signal of SHUTDOWN_SIGNALS) process.on(signal, onShutdownSignal);
}
