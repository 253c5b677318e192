import { startS3, type S3Server } from '@edgeloop/harness';
import { CloudConfig } from '../config/cloud.config';
import { BlobRepository, HEALTH_PROBE_KEY } from './blob.repository';

/**
 * The S3 health check against a real S3 server (s3rver): up when the bucket is served, down — saying why —
 * when the bucket is missing or the server is gone, and one GET of one key whatever the bucket holds (s3rver
 * answers a HEAD on the bucket by listing up to 1,000 of its objects).
 */
describe('BlobRepository.ping', () => {
  let s3: S3Server;
  const repository = (bucket: string) =>
    new BlobRepository(
      CloudConfig.fromEnv({
        S3_ENDPOINT: s3.endPoint,
        S3_PORT: String(s3.port),
        S3_ACCESS_KEY: s3.accessKey,
        S3_SECRET_KEY: s3.secretKey,
        S3_BUCKET: bucket,
        EDGELOOP_BOOTSTRAP_TOKEN: 'elt_blob-health-test-token-0123456789',
        EDGELOOP_SQL_DIR: 'memory://',
      }),
    );

  beforeAll(async () => {
    s3 = await startS3({ buckets: ['served'] });
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('is up for a served bucket, with one GET of one never-written key and no listing', async () => {
    const blobs = repository('served');
    const client = (blobs as unknown as { client: import('minio').Client }).client;
    const getObject = jest.spyOn(client, 'getObject');
    const bucketExists = jest.spyOn(client, 'bucketExists');
    const listObjectsV2 = jest.spyOn(client, 'listObjectsV2');
    // a bucket with objects in it: the check does not look at them
    for (let i = 0; i < 20; i++) await client.putObject('served', `raw/${i}`, Buffer.from(`object ${i}`), 8 + String(i).length);

    await expect(blobs.ping()).resolves.toBeUndefined();
    expect(getObject.mock.calls).toEqual([['served', HEALTH_PROBE_KEY]]);
    expect(bucketExists).not.toHaveBeenCalled();
    expect(listObjectsV2).not.toHaveBeenCalled();
    expect(await blobs.size(HEALTH_PROBE_KEY)).toBeUndefined();
  });

  it('is down, naming the bucket, when the bucket does not exist', async () => {
    await expect(repository('missing-bucket').ping()).rejects.toThrow('bucket missing-bucket does not exist');
  });

  it('is down when the server is gone', async () => {
    const blobs = repository('served');
    await s3.stop();
    await expect(blobs.ping()).rejects.toThrow();
  });
});
