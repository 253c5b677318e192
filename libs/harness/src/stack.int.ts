import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Client as MinioClient } from 'minio';
import { connect } from 'mqtt';
import { Client as PgClient } from 'pg';
import {
  isProcessAlive,
  postgresAvailability,
  probeMqtt,
  startedCount,
  startStack,
  stopAllStarted,
  waitUntilStopped,
  type Stack,
} from '@edgeloop/harness';

afterAll(() => stopAllStarted());

async function redisRoundTrip(stack: Stack, key: string, value?: string): Promise<string | null> {
  const redis = new Redis(stack.redis.url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  try {
    if (value !== undefined) await redis.set(key, value);
    return await redis.get(key);
  } finally {
    redis.disconnect();
  }
}

describe('startStack', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'edgeloop-stack-data-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('starts redis, the embedded broker, s3 and PGlite under one data dir, and keeps their data', async () => {
    const stack = await startStack({ dataDir, s3: { buckets: ['models'] }, database: { engine: 'pglite' } });
    try {
      const lines = stack.describe().split('\n');
      expect(lines).toHaveLength(4);
      expect(lines[0]).toContain(stack.redis.url);
      expect(lines[1]).toContain(stack.broker.url);
      expect(lines[2]).toContain(stack.s3.url);
      expect(lines[3]).toContain(`PGlite in ${join(dataDir, 'pglite')}`);
      expect(stack.broker.kind).toBe('embedded');

      expect(await redisRoundTrip(stack, 'stack:key', 'kept')).toBe('kept');
      expect(await probeMqtt(stack.broker.url)).toBe(true);
      await new MinioClient(stack.s3.clientOptions).putObject('models', 'm.txt', 'model', 5);
      if (stack.database.kind !== 'pglite') throw new Error('expected PGlite');
      await stack.database.pglite.exec("create table kept (v text); insert into kept values ('yes')");
    } finally {
      await stack.stop();
    }
    expect(existsSync(join(dataDir, 'redis', 'appendonlydir'))).toBe(true);

    // the embedded mode starts again on the same ./data and finds everything
    const again = await startStack({ dataDir, database: { engine: 'pglite' } });
    try {
      expect(await redisRoundTrip(again, 'stack:key')).toBe('kept');
      const text = await new MinioClient(again.s3.clientOptions).getObject('models', 'm.txt');
      let body = '';
      for await (const chunk of text) body += String(chunk);
      expect(body).toBe('model');
      if (again.database.kind !== 'pglite') throw new Error('expected PGlite');
      expect((await again.database.pglite.query('select v from kept')).rows).toEqual([{ v: 'yes' }]);
    } finally {
      await again.stop();
    }
  });

  const itWithPostgres = postgresAvailability().available ? it : it.skip;

  itWithPostgres('starts mosquitto and a spawned PostgreSQL cluster; stop() ends every process and frees every port', async () => {
    const before = startedCount();
    const stack = await startStack({ broker: 'mosquitto', database: { engine: 'postgres', ignoreEnvironment: true } });
    if (stack.broker.kind !== 'mosquitto' || stack.database.kind !== 'postgres' || !stack.database.server) {
      throw new Error('expected mosquitto and a spawned cluster');
    }
    const mqttClient = connect(stack.broker.url, { reconnectPeriod: 0 });
    await new Promise<void>((resolve, reject) => {
      mqttClient.once('connect', () => resolve());
      mqttClient.once('error', reject);
    });
    await mqttClient.endAsync();
    const pg = new PgClient({ connectionString: stack.database.url });
    await pg.connect();
    expect((await pg.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    await pg.end();

    const processes = [stack.redis, stack.broker.mosquitto, stack.database.server].map(({ pid, port }) => ({ pid, port }));
    const inProcessPorts = [stack.s3.port];
    for (const { pid } of processes) expect(pid !== undefined && isProcessAlive(pid)).toBe(true);

    await stack.stop();
    for (const target of [...processes, ...inProcessPorts.map((port) => ({ port }))]) {
      await expect(waitUntilStopped(target)).resolves.toEqual({ processGone: true, portFree: true });
    }
    expect(startedCount()).toBe(before);
  });

  it('when one service fails to start, stops the others and names the failure', async () => {
    const before = startedCount();
    const attempt = startStack({
      broker: 'mosquitto',
      mosquitto: { config: { extraLines: ['not_a_mosquitto_option 1'] } },
      // a spawned cluster starts in well under a second; PGlite would take seconds
      database: { engine: postgresAvailability().available ? 'postgres' : 'pglite', ignoreEnvironment: true },
    });
    await expect(attempt).rejects.toThrow(/mosquitto failed to start/);
    expect(startedCount()).toBe(before);
  });
});
