import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BlobRepository } from '../repositories/blob.repository';
import { RetrainingArtifacts } from './retraining-artifacts';

/** An object store in memory that counts reads: what the artifacts hand out from memory never reaches it. */
function memoryBlobs() {
  const objects = new Map<string, Buffer>();
  const reads: string[] = [];
  const blobs = {
    size: async (key: string) => objects.get(key)?.length,
    putStream: async (key: string, body: Readable) => {
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      objects.set(key, Buffer.concat(chunks));
    },
    getRange: async (key: string, start: number, end: number) => {
      reads.push(key);
      return Readable.from([objects.get(key)!.subarray(start, end + 1)]);
    },
  };
  return { blobs: blobs as unknown as BlobRepository, objects, reads };
}

describe('RetrainingArtifacts', () => {
  it('hands out a document it wrote without reading it back or copying it, and reads it once forgotten', async () => {
    const { blobs, objects, reads } = memoryBlobs();
    const artifacts = new RetrainingArtifacts(blobs);
    const bytes = Buffer.from(JSON.stringify({ examples: Array.from({ length: 1000 }, (_, i) => i) }));
    const sha256 = createHash('sha256').update(bytes).digest('hex');

    const ref = await artifacts.putDocumentBytes({ bytes, sha256 });
    expect(objects.get(ref.key)).toEqual(bytes);

    const first = await artifacts.getDocumentBytes(ref);
    const second = await artifacts.getDocumentBytes(ref);
    expect(reads).toEqual([]);
    expect(Buffer.from(first.bytes)).toEqual(bytes);
    // the kept bytes themselves: the training threads only read them, so no step copies them
    expect(first.bytes).toBe(bytes);
    expect(second.bytes).toBe(bytes);
    expect(await artifacts.getDocument(ref)).toEqual({ examples: Array.from({ length: 1000 }, (_, i) => i) });
    expect(reads).toEqual([]);

    artifacts.onApplicationShutdown();
    const again = await artifacts.getDocumentBytes(ref);
    expect(reads).toEqual([ref.key]);
    expect(Buffer.from(again.bytes)).toEqual(bytes);
    // read into shared memory, which a worker thread sees without a copy
    expect(again.bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    // read once, then kept
    expect((await artifacts.getDocumentBytes(ref)).bytes).toBe(again.bytes);
    expect(reads).toEqual([ref.key]);
    artifacts.onApplicationShutdown();
  });
});
