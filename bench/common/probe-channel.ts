import type { ChildProcess } from 'node:child_process';

const ANSWER_TIMEOUT_MS = 30_000;

/** What a probe hook in the cloud child answers over IPC. */
export interface ProbeReply {
  type: string;
  error?: string;
}

/**
 * Sends `message` to the probe hook `--require`d into the cloud child and resolves with its answer of
 * type `expected`; a `probe-error` answer, or none within 30 s, rejects.
 */
export function askProbeHook<Reply extends ProbeReply>(child: ChildProcess | undefined, message: object, expected: Reply['type']): Promise<Reply> {
  if (!child?.send) throw new Error('the cloud was not started with the probe hook');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no ${expected} from the cloud within ${ANSWER_TIMEOUT_MS} ms`)), ANSWER_TIMEOUT_MS);
    const onMessage = (answer: Reply) => {
      if (answer.type === 'probe-error') finish(new Error(`cloud probe: ${answer.error}`));
      else if (answer.type === expected) finish(undefined, answer);
    };
    const finish = (err?: Error, answer?: Reply) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      if (err) reject(err);
      else resolve(answer!);
    };
    child.on('message', onMessage);
    child.send(message);
  });
}
