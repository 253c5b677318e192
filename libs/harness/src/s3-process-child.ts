/**
 * The child of `startS3Process`: s3rver on a free loopback port; sends `{ port, dir }` once listening and
 * stops (removing a temp dir) when the parent disconnects or sends SIGTERM.
 */
import { startS3 } from '@edgeloop/embedded';
import type { S3ProcessOptions } from './s3-process';

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as S3ProcessOptions;
  const s3 = await startS3({ dir: options.dir, buckets: options.buckets });
  const stop = () => {
    void s3.stop().finally(() => process.exit(0));
  };
  process.once('disconnect', stop);
  process.once('SIGTERM', stop);
  process.send?.({ port: s3.port, dir: s3.dir });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
