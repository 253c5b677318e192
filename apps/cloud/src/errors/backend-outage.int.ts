import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';
import { baseFiles, makeHead, uploadForm } from '../testing/upload-form';

const labels = ['alice', 'bob'];

/**
 * The S3 server down under a running cloud (the fault suite's `s3-down` cell answered uploads with 500): a
 * request that needs S3 gets a clear 503 `unavailable`, registers nothing, and what needs SQL alone still works.
 */
describe('a request during an S3 outage', () => {
  let fx: CloudFixture;
  let blob: string;

  beforeAll(async () => {
    fx = await startCloudFixture({ sql: 'pglite' });
    const res = await fx.api('/api/v1/models/face-id/versions', { method: 'POST', body: uploadForm({ ...baseFiles, head: makeHead(labels) }, { labels }) });
    expect(res.status).toBe(201);
    blob = ((await res.json()) as { manifest: { files: { sha256: string }[] } }).manifest.files[0].sha256;
    await fx.s3.stop();
  }, 60_000);
  afterAll(() => fx?.stop());

  it('answers an upload with 503 unavailable and registers nothing', async () => {
    const res = await fx.api('/api/v1/models/face-id/versions', { method: 'POST', body: uploadForm({ ...baseFiles, head: makeHead(labels, 2) }, { labels }) });
    expect({ status: res.status, error: ((await res.json()) as { error: string }).error }).toEqual({ status: 503, error: 'unavailable' });
    const list = await fx.api('/api/v1/models/face-id/versions');
    expect(list.status).toBe(200);
    expect(((await list.json()) as { versions: { version: number }[] }).versions.map((v) => v.version)).toEqual([1]);
  });

  it('answers a blob download with 503 unavailable', async () => {
    const res = await fx.api(`/api/v1/blobs/${blob}`, { headers: { range: 'bytes=0-0' } });
    expect({ status: res.status, error: ((await res.json()) as { error: string }).error }).toEqual({ status: 503, error: 'unavailable' });
  });
});
