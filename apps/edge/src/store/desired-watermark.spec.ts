import { readFileSync, writeFileSync } from 'node:fs';
import { MANIFEST_SCHEMA, type ModelManifest } from '@edgeloop/contracts';
import { configureLogging } from '../logger';
import { CloudSigner } from '../testing/cloud-signer';
import { tempStateDir } from '../testing/edge-env';
import { DesiredStateWatermark } from './desired-watermark';

const manifest: ModelManifest = {
  schema: MANIFEST_SCHEMA,
  name: 'face-id',
  version: 3,
  files: [{ role: 'detector', sha256: 'a'.repeat(64), size: 10, format: 'onnx' }],
  labels: [],
  thresholds: { detection: 0.7, match: 0.45 },
  metrics: {},
  createdBy: 'test',
} as ModelManifest;

describe('DesiredStateWatermark', () => {
  const signer = new CloudSigner();
  const state = tempStateDir('edge-watermark-');
  const at = (issuedAt: number, deploymentId: string, deviceId = 'cam-1') => ({ ...signer.desired(deviceId, manifest, { deploymentId }), issuedAt });

  beforeAll(() => configureLogging({ level: 'error' }));
  afterAll(() => state.remove());

  it('accepts newer states and the same message again, refuses older ones and another message of the same millisecond', async () => {
    const mark = new DesiredStateWatermark(state.dir);
    await mark.load();
    const first = at(1_000, 'dep-a');
    expect(mark.check(first)).toEqual({ fresh: true });
    await mark.accept(first);
    expect(mark.check(first)).toEqual({ fresh: true });
    expect(mark.check(at(999, 'dep-old'))).toMatchObject({ fresh: false, reason: expect.stringMatching(/^stale desired state \(deployment dep-old.*dep-a/) });
    expect(mark.check(at(1_000, 'dep-twin'))).toMatchObject({ fresh: false });
    expect(mark.check(at(1_001, 'dep-b'))).toEqual({ fresh: true });
    // Per device: another device's mark is its own.
    expect(mark.check(at(5, 'dep-other', 'cam-2'))).toEqual({ fresh: true });
  });

  it('persists the mark, never moves it back, and survives a new instance (a restart)', async () => {
    const mark = new DesiredStateWatermark(state.dir);
    await mark.load();
    await mark.accept(at(2_000, 'dep-c'));
    await mark.accept(at(1_500, 'dep-older'));
    const restarted = new DesiredStateWatermark(state.dir);
    await restarted.load();
    expect(restarted.accepted('cam-1')).toMatchObject({ issuedAt: 2_000, deploymentId: 'dep-c' });
    expect(restarted.check(at(1_999, 'dep-replay'))).toMatchObject({ fresh: false });
    expect(JSON.parse(readFileSync(restarted.file, 'utf8'))).toMatchObject({ v: 1, devices: { 'cam-1': { issuedAt: 2_000 } } });
  });

  it('starts without a mark when the file is not one (never crashes the worker)', async () => {
    const other = tempStateDir('edge-watermark-bad-');
    try {
      writeFileSync(new DesiredStateWatermark(other.dir).file, '{ not json');
      const mark = new DesiredStateWatermark(other.dir);
      await expect(mark.load()).resolves.toBeUndefined();
      expect(mark.accepted('cam-1')).toBeUndefined();
    } finally {
      other.remove();
    }
  });
});
