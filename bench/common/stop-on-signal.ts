/**
 * `stop` (the bench's servers and temp dir) made to run once, at the end of the bench or on SIGINT or
 * SIGTERM, after which the process exits 130 or 143. Await the returned function in the bench's
 * `finally`: it stops, then removes the signal handlers.
 */
export function stopOnSignal(stop: () => Promise<void>): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  const stopOnce = () => (stopping ??= stop());
  const onSignal = (signal: NodeJS.Signals) => {
    void stopOnce().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return async () => {
    await stopOnce();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  };
}
