import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeviceHealth } from '@edgeloop/contracts';
import type { ModelRuntime } from '../runtime/model-runtime';
import { AGENT_VERSION, DeviceStateTracker } from './device-state';

const rootPackage = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', '..', 'package.json'), 'utf8')) as { version: string };

describe('the agent version', () => {
  it('is package.json version, in the reported state too', () => {
    expect(AGENT_VERSION).toBe(`edgeloop-edge/${rootPackage.version}`);
    const health: DeviceHealth = { fps: 0, latencyMs: { p50: 0, p95: 0 }, rssBytes: 1, outboxDepth: 0, outboxDropped: 0, droppedFrames: 0 };
    const tracker = new DeviceStateTracker('cam-1', { running: null } as unknown as ModelRuntime, () => health);
    expect(tracker.reported(1_769_860_800_000).agentVersion).toBe(AGENT_VERSION);
  });
});
