import path from 'node:path';
import { startReportingChild } from './reporting-child';

/** What the test gives the steady device (the child's first IPC message). */
export interface SteadyDeviceStart {
  type: 'start';
  mqttUrl: string;
  id: string;
  password: string;
  model: { name: string; version: number };
  frames: number;
  everyMs: number;
}

/** One batch's stages on the device's clock, in epoch milliseconds with sub-millisecond precision. */
export interface SteadyBatchMarks {
  published: number;
  puback?: number;
  acked?: number;
}

/** What the steady device tells the test. */
export type SteadyDeviceMessage =
  | { type: 'ready' }
  | { type: 'acked'; seq: number }
  | {
      type: 'report';
      /** Batches published (1 … published). */
      published: number;
      marks: Record<number, SteadyBatchMarks>;
      /** Its own event loop: a 5 ms timer run more than 15 ms late ([epoch ms, ms late]), and its collections over 5 ms. */
      stalls: Array<[number, number]>;
      gcs: Array<[number, number, string]>;
    };

/** The steady device's own record of its run. */
export type SteadyDeviceReport = Extract<SteadyDeviceMessage, { type: 'report' }>;

/** A well-behaved device in a process of its own, as `startSteadyDevice` returns it. */
export interface SteadyDevice {
  /** The batches whose ack has reached the device so far (told as they come). */
  readonly acked: ReadonlySet<number>;
  /** Stops publishing, waits for the acks of what it sent (at most `ackWithinMs`), and returns its own record of every batch. */
  stop(ackWithinMs?: number): Promise<SteadyDeviceReport>;
  /** Kills the process (idempotent); for clean-up after a failure. */
  kill(): void;
}

/**
 * Starts a well-behaved edge device as a child process (steady-device-child.ts): connected with its credentials,
 * subscribed to its acks, publishing a batch of `frames` frames every `everyMs` until `stop()`. Its latencies are taken
 * on its own clock and event loop, not on the test's, whose polling and garbage collections would be counted as the
 * cloud's otherwise. Resolves once it is connected and subscribed (its first batch is on its way).
 */
export async function startSteadyDevice(options: Omit<SteadyDeviceStart, 'type'>): Promise<SteadyDevice> {
  const acked = new Set<number>();
  const child = await startReportingChild<SteadyDeviceReport>(
    path.join(__dirname, 'steady-device-entry.js'),
    'the steady device',
    { type: 'start', ...options } satisfies SteadyDeviceStart,
    (message) => {
      if (message.type === 'acked') acked.add((message as Extract<SteadyDeviceMessage, { type: 'acked' }>).seq);
    },
  );
  return { acked, stop: (ackWithinMs = 10_000) => child.stop({ type: 'stop', ackWithinMs }), kill: child.kill };
}
