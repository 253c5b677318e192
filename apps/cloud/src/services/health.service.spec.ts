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
