import { parseDeviceMessage, verifyDesiredState } from '@edgeloop/contracts';
import { readFileSync } from 'node:fs';
import { BlobFetcher } from '../../deploy/blob-fetcher';
import { pipelineFiles } from '../../deploy/deployer';
import { ModelStore, type VersionPointer } from '../model-store';

/**
 * Test helper run as a child process by kill-activation.int.ts, to be killed with SIGKILL at any moment: the
 * store side of `Deployer.apply`, in its order, on the real ModelStore and BlobFetcher — refuse an unsigned
 * desired state, download every missing blob (resumable `.part`, sha256 checked before the final name),
 * re-hash them, save the signed manifest, move the pointers (last-known-good first), collect garbage.
 * Exit 0 = activated, 2 = refused (schema), 3 = refused (signature), 4 = refused (blob bytes).
 *
 *   node activation-child.js <stateDir> <job.json>   job: { desired, cloudUrl, publicKeyPem }
 */
async function main(): Promise<number> {
  const [stateDir, jobFile] = process.argv.slice(2);
  const job = JSON.parse(readFileSync(jobFile!, 'utf8')) as { desired: unknown; cloudUrl: string; publicKeyPem: string };
  const store = new ModelStore(stateDir!);
  await store.open();
  // as the agent reads it from MQTT, then as the deployer admits it
  const parsed = parseDeviceMessage('desired', JSON.stringify(job.desired));
  if (!parsed.ok) return 2;
  const desired = parsed.value;
  if (!verifyDesiredState(desired, job.publicKeyPem).ok) return 3;
  const fetcher = new BlobFetcher({ cloudUrl: job.cloudUrl, attempts: 2, backoffMs: 10, stallTimeoutMs: 5000 });
  const files = pipelineFiles(desired);
  try {
    for (const sha256 of new Set(Object.values(files))) {
      if (await store.hasBlob(sha256)) continue;
      await fetcher.fetch(
        desired.blobs.find((blob) => blob.sha256 === sha256)!,
        store.blobFile(sha256),
      );
    }
  } catch {
    return 4;
  }
  for (const sha256 of Object.values(files)) {
    if (!(await store.blobIntact(sha256))) {
      await store.removeBlob(sha256);
      return 4;
    }
  }
  await store.saveVersion(desired.manifest);
  const previous = await store.readPointer('active');
  const now = Date.now();
  const active: VersionPointer = { ...desired.model, deploymentId: desired.deploymentId, at: now };
  await store.writePointers(active, previous ? { ...previous, at: now } : null);
  const keep = [active, previous].filter((p): p is VersionPointer => p !== undefined);
  await store.collectGarbage({ versions: keep, blobs: [] });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`activation failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
