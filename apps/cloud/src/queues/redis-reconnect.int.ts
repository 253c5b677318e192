import { startRedis, type RedisServer } from '@edgeloop/harness';
import { Queue } from 'bullmq';
import { BLOCKING_RECONNECT_WAIT_MS, TolerantWorker } from './bull';
import { createBullmqConnection, REDIS_RETRY_MAX_MS, redisRetryDelay } from './bullmq-connection';

/**
 * After a Redis outage the cloud's queues are back within about REDIS_RETRY_MAX_MS of Redis, however long the
 * outage lasted: with BullMQ's default reconnect delays (e^attempt ms up to 20 s) an outage of 12 s left them
 * waiting up to 20 s more (readiness 503 and idle workers all that time).
 */
describe('BullMQ connection after a Redis outage', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('waits at most a couple of seconds between reconnect attempts, with jitter', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => redisRetryDelay(n, () => 0))).toEqual([100, 200, 400, 800, 1600, 2000]);
    expect(redisRetryDelay(1_000, () => 0)).toBe(REDIS_RETRY_MAX_MS);
    expect(redisRetryDelay(1_000, () => 0.999)).toBeLessThanOrEqual(REDIS_RETRY_MAX_MS * 1.25);
    expect(redisRetryDelay(0, () => 0)).toBe(100);
  });

  it('answers again within ~2 s of Redis coming back from a 12 s outage', async () => {
    const { connection, prefix } = createBullmqConnection({ redisUrl: redis.url, bullmq: { prefix: 'reconnect-test' } });
    const queue = new Queue('outage', { connection, prefix });
    queue.on('error', () => undefined);
    try {
      await queue.getJobCounts('active');
      await redis.halt();
      await new Promise((r) => setTimeout(r, 12_000));
      await redis.resume();
      const back = performance.now();
      await queue.getJobCounts('active');
      expect(performance.now() - back).toBeLessThan(REDIS_RETRY_MAX_MS * 1.25 + 1500);
    } finally {
      await queue.close();
    }
  }, 60_000);

  it('closes a worker whose blocking connection is reconnecting (BullMQ #4656: a plain Worker never resolves)', async () => {
    const { connection, prefix } = createBullmqConnection({ redisUrl: redis.url, bullmq: { prefix: 'reconnect-close' } });
    const worker = new TolerantWorker('closing', async () => undefined, { connection, prefix, drainDelay: 1 });
    worker.on('error', () => undefined);
    await worker.waitUntilReady();
    const blocking = () => (worker as unknown as { backend: { blockingConnection: { _client: { status: string } } } }).backend.blockingConnection._client;
    await redis.halt();
    try {
      const deadline = Date.now() + 10_000;
      while (blocking().status !== 'reconnecting' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(blocking().status).toBe('reconnecting');
      const started = performance.now();
      const closed = await Promise.race([
        worker.close().then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), BLOCKING_RECONNECT_WAIT_MS + 10_000)),
      ]);
      expect(closed).toBe(true);
      expect(performance.now() - started).toBeLessThan(BLOCKING_RECONNECT_WAIT_MS + 5_000);
    } finally {
      await redis.resume();
    }
  }, 60_000);
});
