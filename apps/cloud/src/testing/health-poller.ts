import path from 'node:path';
import { startReportingChild } from './reporting-child';

/** One answer: when it was asked (epoch ms, as precise as performance.now()), how long it took (ms), its status and body. */
export type PolledAnswer = [at: number, ms: number, status: number, body: string];

/** A client polling one URL from a process of its own, as `startHealthPoller` returns it. */
export interface HealthPoller {
  /** Stops polling (after the request in flight) and returns every answer, in order. */
  stop(): Promise<PolledAnswer[]>;
  /** Kills the process (idempotent); for clean-up after a failure. */
  kill(): void;
}

/**
 * Polls `url` every `everyMs` (after each answer) from a child process (health-poller-child.js), which times each answer
 * on its own clock and event loop: a test's process, busy with its own work and collections, would add its stalls to
 * the API's latency. Resolves after the first answer.
 */
export async function startHealthPoller(url: string, everyMs: number): Promise<HealthPoller> {
  const child = await startReportingChild<{ type: 'report'; answers: PolledAnswer[] }>(path.join(__dirname, 'health-poller-child.js'), 'the health poller', {
    type: 'start',
    url,
    everyMs,
  });
  return { stop: async () => (await child.stop({ type: 'stop' })).answers, kill: child.kill };
}
