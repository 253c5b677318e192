import { QUEUES } from '@edgeloop/contracts';
import { startRedisCluster, stopAllStarted, type RedisCluster } from '@edgeloop/harness';
import { Queue, Worker } from 'bullmq';
import { CloudConfig } from '../config/cloud.config';
import { createBullmqConnection, type BullmqConnection } from './bullmq-connection';

const S3 = { S3_ENDPOINT: '127.0.0.1', S3_ACCESS_KEY: 'access-key-x', S3_SECRET_KEY: 'secret-key-x' };

/**
 * BullMQ on a 3-primary Redis Cluster started here (redis-server --cluster-enabled yes, redis-cli --cluster
 * create): with EDGELOOP_BULLMQ_PREFIX={edgeloop} and REDIS_CLUSTER=true, every queue of the cloud takes a
 * job through a worker built from `createBullmqConnection`; the same queue without the hash tag is refused
 * by the cluster (CROSSSLOT), so the option is what makes it work.
 */
describe('BullMQ on a Redis Cluster', () => {
  let cluster: RedisCluster;
  const connections: BullmqConnection[] = [];
  const open = (config: Pick<CloudConfig, 'redisUrl' | 'bullmq'>, name: string): BullmqConnection => {
    const connection = createBullmqConnection(config, name);
    connections.push(connection);
    return connection;
  };

  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(connections.map((c) => c.close()));
    await stopAllStarted();
  });

  it('runs every queue of the cloud with a hash-tag prefix, one job each through a worker', async () => {
    const config = CloudConfig.fromEnv({ ...S3, REDIS_URL: cluster.url, REDIS_CLUSTER: 'true', EDGELOOP_BULLMQ_PREFIX: '{edgeloop}' });
    expect(config.bullmq.cluster?.nodes).toEqual([{ host: '127.0.0.1', port: cluster.nodes[0].port }]);
    const done: string[] = [];
    for (const name of Object.values(QUEUES)) {
      const { connection, prefix } = open(config, `test-${name}`);
      const worker = new Worker(name, async (job) => ({ echoed: job.data.n }), { connection, prefix, concurrency: 1 });
      const queue = new Queue(name, { connection: open(config, `producer-${name}`).connection, prefix });
      worker.on('error', (err) => process.stderr.write(`worker ${name}: ${err.message}\n`));
      queue.on('error', (err) => process.stderr.write(`queue ${name}: ${err.message}\n`));
      const completed = new Promise<unknown>((resolve) => worker.on('completed', (job) => resolve(job.returnvalue)));
      await worker.waitUntilReady();
      await queue.add(`${name}.probe`, { n: 7 }, { jobId: `${name}-probe` });
      expect(await Promise.race([completed, new Promise((r) => setTimeout(() => r('timed out'), 20_000))])).toEqual({ echoed: 7 });
      expect(await queue.getJobState(`${name}-probe`)).toBe('completed');
      done.push(name);
      await worker.close();
      await queue.close();
    }
    expect(done).toEqual(Object.values(QUEUES));
    // every key of every queue is in the slot of the tag, so on one node of the three
    const slot = await cluster.cli('cluster', 'keyslot', 'edgeloop');
    const perNode = await Promise.all(cluster.nodes.map(async (_, i) => Number(await cluster.nodeCli(i, 'dbsize'))));
    const holder = perNode.findIndex((n) => n > 0);
    expect(perNode.filter((n) => n > 0)).toHaveLength(1);
    expect(Number(await cluster.nodeCli(holder, 'cluster', 'countkeysinslot', slot))).toBe(perNode[holder]);
    const keys = (await cluster.nodeCli(holder, 'cluster', 'getkeysinslot', slot, '1000')).split('\n');
    expect(keys).toEqual(expect.arrayContaining(Object.values(QUEUES).map((name) => `{edgeloop}:${name}:${name}-probe`)));
  }, 90_000);

  it('fails on the same cluster without the hash tag (CROSSSLOT), and the config refuses that combination', async () => {
    expect(() => CloudConfig.fromEnv({ ...S3, REDIS_URL: cluster.url, REDIS_CLUSTER: 'true', EDGELOOP_BULLMQ_PREFIX: 'edgeloop' })).toThrow(
      /EDGELOOP_BULLMQ_PREFIX: on Redis Cluster the prefix needs a hash tag, e\.g\. \{edgeloop\}/,
    );
    const untagged = open(
      { redisUrl: cluster.url, bullmq: { prefix: 'edgeloop', cluster: { nodes: [{ host: '127.0.0.1', port: cluster.nodes[0].port }] } } },
      'untagged',
    );
    const queue = new Queue(QUEUES.predictions, untagged);
    queue.on('error', () => undefined);
    await expect(queue.add('predictions.ingest', { n: 1 })).rejects.toThrow(/CROSSSLOT/);
    await queue.close();
  }, 30_000);
});
