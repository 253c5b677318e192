import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { startRedis, stopAllStarted, type RedisServer } from '@edgeloop/harness';
import type { DomainEvent } from '@edgeloop/contracts';
import { firstValueFrom, filter, take, toArray } from 'rxjs';
import { CloudConfig } from '../config/cloud.config';
import { DomainEvents, OnDomainEvent } from './domain-events';
import { EventRelay } from './event-relay';
import { EventsModule } from './events.module';

afterAll(() => stopAllStarted());

@Injectable()
class Recorder {
  readonly seen: DomainEvent[] = [];
  failNext = false;

  @OnDomainEvent('model.alias.changed', 'deployment.progress')
  async record(event: DomainEvent): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('listener failed on purpose');
    }
    this.seen.push(event);
  }
}

@Module({ providers: [Recorder] })
class RecorderModule {}

/** Two "replicas": each an app with the events module on the same Redis. */
async function replica(redisUrl: string): Promise<INestApplicationContext> {
  const config = CloudConfig.fromEnv({ S3_ENDPOINT: '127.0.0.1', S3_PORT: '9', S3_ACCESS_KEY: 'unused', S3_SECRET_KEY: 'unused-secret', REDIS_URL: redisUrl });
  @Module({ imports: [EventsModule.forRoot(config), RecorderModule] })
  class ReplicaModule {}
  const app = await NestFactory.createApplicationContext(ReplicaModule, { logger: false });
  await app.init();
  return app;
}

describe('domain events (real Redis)', () => {
  let redis: RedisServer;
  let a: INestApplicationContext;
  let b: INestApplicationContext;

  beforeAll(async () => {
    redis = await startRedis();
    a = await replica(redis.url);
    b = await replica(redis.url);
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  it('awaits the local listeners, which receive a typed envelope, and only the types they listen to', async () => {
    const recorder = a.get(Recorder);
    await a.get(DomainEvents).emit('model.alias.changed', { modelName: 'face-id', alias: 'production', version: 3 });
    await a.get(DomainEvents).emit('device.changed', { deviceId: 'cam-1', online: true });
    expect(recorder.seen).toHaveLength(1);
    expect(recorder.seen[0]).toMatchObject({ type: 'model.alias.changed', data: { modelName: 'face-id', alias: 'production', version: 3 } });
    expect(recorder.seen[0].id).toMatch(/^ev_/);
    // a listener of another replica does not run: each replica's listeners see only its own events
    expect(b.get(Recorder).seen).toHaveLength(0);
  });

  it('refuses data that does not match the schema of its type, and a failing listener does not fail the emitter', async () => {
    const recorder = a.get(Recorder);
    const before = recorder.seen.length;
    await a.get(DomainEvents).emit('model.alias.changed', { modelName: 'face-id', alias: 'production', version: -1 });
    expect(recorder.seen).toHaveLength(before);
    recorder.failNext = true;
    await expect(a.get(DomainEvents).emit('deployment.progress', { deploymentId: 'dep-1', status: 'running' })).resolves.toBeUndefined();
    expect(recorder.seen).toHaveLength(before);
  });

  it("relays every replica's events to every replica's live stream through Redis", async () => {
    // events of the earlier tests may still be on their way through Redis: watch these two only
    const ours = (e: DomainEvent) => e.type === 'deployment.progress' && ['dep-a', 'dep-b'].includes((e.data as { deploymentId: string }).deploymentId);
    const onB = firstValueFrom(b.get(EventRelay).events$.pipe(filter(ours), take(2), toArray()));
    const onA = firstValueFrom(a.get(EventRelay).events$.pipe(filter(ours), take(2), toArray()));
    await a.get(DomainEvents).emit('deployment.progress', { deploymentId: 'dep-a', status: 'running' });
    await b.get(DomainEvents).emit('deployment.progress', { deploymentId: 'dep-b', status: 'completed' });
    for (const events of await Promise.all([onA, onB])) {
      expect(events.map((e) => (e.data as { deploymentId: string }).deploymentId).sort()).toEqual(['dep-a', 'dep-b']);
    }
  });
});
