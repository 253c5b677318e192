/**
 * Every handle a `start*` function returned and that has not been stopped yet. Tests call
 * `stopAllStarted()` in `afterAll` as a backstop, so a failing test leaves no server (in-process
 * or spawned) behind to keep Jest from exiting.
 */
interface StoppableHandle {
  stop(): Promise<void>;
}

const started = new Set<StoppableHandle>();

/** Wraps `handle.stop` so that stopping removes it from the registry; returns the same handle. */
export function trackStarted<T extends StoppableHandle>(handle: T): T {
  const stop = handle.stop.bind(handle);
  handle.stop = async () => {
    try {
      await stop();
    } finally {
      started.delete(handle);
    }
  };
  started.add(handle);
  return handle;
}

/** How many started handles have not been stopped. */
export function startedCount(): number {
  return started.size;
}

/** Stops every handle still running, in reverse start order; reports all failures together. */
export async function stopAllStarted(): Promise<void> {
  const handles = [...started].reverse();
  const results = await Promise.allSettled(handles.map((handle) => handle.stop()));
  const failures = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failures.length > 0)
    throw new AggregateError(
      failures.map((failure) => failure.reason),
      'stopAllStarted: some handles did not stop',
    );
}
