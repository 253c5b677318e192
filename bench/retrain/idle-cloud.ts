/**
 * A second cloud that does nothing, in a process of its own (forked by timing.ts): its `GET /api/v1/health`
 * is probed at the same moments as the busy cloud's, so a slow answer the machine causes (other work on
 * the shared cores) shows on both, and one the retraining causes shows only on the busy one. The same
 * stack as the busy cloud (`startRetrainCloud`: its own Redis, S3 process and PGlite in a temp folder).
 * Sends `{ url }` once it answers; stops when the parent disconnects.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { startRetrainCloud } from './bench-cloud';

export interface IdleCloud {
  url: string;
  stop(): Promise<void>;
}

/** Forks this file as the idle cloud's process and waits for its URL. */
export async function startIdleCloud(workDir: string): Promise<IdleCloud> {
  const child: ChildProcess = fork(__filename, [workDir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [message] = (await Promise.race([
    once(child, 'message'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`the idle cloud's process exited with code ${String(code)} before answering`);
    }),
  ])) as [{ url: string }];
  return {
    url: message.url,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.disconnect();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

async function main(workDir: string): Promise<void> {
  const cloud = await startRetrainCloud(workDir);
  const stop = () => {
    void cloud.stop().finally(() => process.exit(0));
  };
  process.once('disconnect', stop);
  process.once('SIGTERM', stop);
  process.send?.({ url: cloud.url });
}

if (require.main === module) {
  main(process.argv[2]).catch((err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
