import { isPortFree, isProcessAlive } from '@edgeloop/embedded';

export interface StopCheck {
  processGone: boolean;
  portFree: boolean;
}

/**
 * Waits (up to `timeoutMs`) until the process is gone and the port can be bound again; reports
 * what it saw, so a test can assert that a server really stopped.
 */
export async function waitUntilStopped(target: { pid?: number; port?: number }, timeoutMs = 5_000): Promise<StopCheck> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const processGone = target.pid === undefined || !isProcessAlive(target.pid);
    const portFree = target.port === undefined || (await isPortFree(target.port));
    if ((processGone && portFree) || Date.now() > deadline) return { processGone, portFree };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
