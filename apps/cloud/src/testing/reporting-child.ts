import { fork } from 'node:child_process';
import { once } from 'node:events';

/** A child process that says `{ type: 'ready' }` once started and `{ type: 'report', … }` once stopped. */
export interface ReportingChild<Report> {
  /** Sends `stopMessage` and resolves with the child's report. */
  stop(stopMessage: object): Promise<Report>;
  /** Kills the process (idempotent); for clean-up after a failure. */
  kill(): void;
}

/**
 * Forks `entry` with an IPC channel, sends it `startMessage` and resolves once it says it is ready; every other
 * message but its report goes to `onMessage`. The steady device and the health poller of the quota test are such
 * children: each times what it does on its own clock and event loop, and reports at the end.
 */
export async function startReportingChild<Report extends { type: 'report' }>(
  entry: string,
  name: string,
  startMessage: object,
  onMessage: (message: { type: string }) => void = () => undefined,
): Promise<ReportingChild<Report>> {
  const child = fork(entry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(child, 'exit');
  let report: ((message: Report) => void) | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (message: { type: string }) => {
      if (message.type === 'ready') resolve();
      else if (message.type === 'report') report?.(message as Report);
      else onMessage(message);
    });
    void exited.then(([code, signal]) => reject(new Error(`${name} exited (${code ?? signal}) before it was ready`)));
  });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  child.send(startMessage);
  try {
    await ready;
  } catch (err) {
    kill();
    throw err;
  }
  return {
    stop(stopMessage) {
      const reported = new Promise<Report>((resolve, reject) => {
        report = resolve;
        void exited.then(() => reject(new Error(`${name} exited without its report`)));
      });
      child.send(stopMessage);
      return reported;
    },
    kill,
  };
}
