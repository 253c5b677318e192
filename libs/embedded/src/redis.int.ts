import { Queue, Worker } from 'bullmq';
import Redis from 'ioredis';
import { startRedis, stopAllStarted, type RedisServer } from '@edgeloop/embedded';
import { waitUntilStopped } from '@edgeloop/harness';

// backstop: whatever a failing test left running
afterAll(() => stopAllStarted());

describe('startRedis', () => {
  let redis: RedisServer;
  const clients: Redis[] = [];
  const connect = (): Redis => {
    const client = new Redis(redis.url, { maxRetriesPerRequest: null });
    client.on('error', () => undefined);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.quit().catch(() => client.disconnect())));
    await redis?.stop();
  });

  it('listens on a free loopback port, not the standard one', () => {
    expect(redis.host).toBe('127.0.0.1');
    expect(redis.port).not.toBe(6379);
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
  });

  it('serves set/get through ioredis', async () => {
    const client = connect();
    await client.set('edgeloop:harness', 'value-1');
    expect(await client.get('edgeloop:harness')).toBe('value-1');
  });

  it('runs a BullMQ job through a queue and a worker', async () => {
    const connection = { host: redis.host, port: redis.port, maxRetriesPerRequest: null };
    const queue = new Queue('harness-check', { connection });
    const worker = new Worker('harness-check', async (job) => ({ doubled: (job.data as { n: number }).n * 2 }), { connection });
    worker.on('error', () => undefined);
    try {
      const completed = new Promise<unknown>((resolve) => worker.on('completed', (_job, result) => resolve(result)));
      await queue.add('double', { n: 21 });
      await expect(completed).resolves.toEqual({ doubled: 42 });
    } finally {
      await worker.close();
      await queue.close();
    }
  });

  it('keeps data across restart() on the same port (append-only file)', async () => {
    const client = connect();
    await client.set('edgeloop:durable', 'survives');
    await client.rpush('edgeloop:list', 'a', 'b', 'c');
    const { port, dir } = redis;
    const pidBefore = redis.pid;

    await redis.restart();

    expect(redis.port).toBe(port);
    expect(redis.dir).toBe(dir);
    expect(redis.pid).not.toBe(pidBefore);
    // the same ioredis client reconnects by itself
    expect(await client.get('edgeloop:durable')).toBe('survives');
    expect(await client.lrange('edgeloop:list', 0, -1)).toEqual(['a', 'b', 'c']);
  });

  it('loses data across restart() without the append-only file (the AOF is what keeps it)', async () => {
    const volatile = await startRedis({ appendOnly: false });
    try {
      const client = new Redis(volatile.url, { maxRetriesPerRequest: null, lazyConnect: true });
      client.on('error', () => undefined);
      await client.connect();
      await client.set('edgeloop:volatile', 'gone');
      await volatile.restart();
      expect(await client.get('edgeloop:volatile')).toBeNull();
      client.disconnect();
    } finally {
      await volatile.stop();
    }
  });

  it('stop() ends the process and frees the port', async () => {
    const other = await startRedis();
    const { pid, port } = other;
    expect(pid).toBeDefined();
    await other.stop();
    await expect(waitUntilStopped({ pid, port })).resolves.toEqual({ processGone: true, portFree: true });
    await other.stop(); // idempotent
  });
});
