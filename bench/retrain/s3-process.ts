/**
 * The bench's S3 server in a process of its own (forked by bench-cloud.ts), as MinIO is in production: its
 * request handling and file writes then stay off the cloud's event loop, which the health figures measure.
 * Sends `{ endPoint, port, accessKey, secretKey }` once listening; stops when the parent disconnects.
 */
import { startS3 } from '@edgeloop/harness';

async function main(): Promise<void> {
  const s3 = await startS3();
  const stop = () => {
    void s3.stop().finally(() => process.exit(0));
  };
  process.once('disconnect', stop);
  process.once('SIGTERM', stop);
  process.send?.({ endPoint: s3.endPoint, port: s3.port, accessKey: s3.accessKey, secretKey: s3.secretKey });
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
