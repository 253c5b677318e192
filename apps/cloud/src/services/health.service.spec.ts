import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HealthService } from './health.service';

const rootPackage = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', '..', 'package.json'), 'utf8')) as { version: string };

describe('HealthService', () => {
  it('reports the version in package.json and which component is down', async () => {
    const health = new HealthService();
    health.register('sql', async () => undefined);
    health.register('redis', async () => {
      throw new Error('connection refused');
    });
    const report = await health.report();
    expect(report.version).toBe(rootPackage.version);
    expect(report.status).toBe('degraded');
    expect(report.components.redis).toMatchObject({ status: 'down', error: 'connection refused' });
    expect(report.components.sql).toMatchObject({ status: 'up' });
  });
});

describe('HealthService shutdown', () => {
  it('releases what each check holds of its own, once', async () => {
    const health = new HealthService();
    const close = jest.fn(async () => undefined);
    health.register('sql', async () => undefined, close);
    health.register('s3', async () => undefined);
    await health.onApplicationShutdown();
    await health.onApplicationShutdown();
    expect(close).toHaveBeenCalledTimes(1);
  });
});
