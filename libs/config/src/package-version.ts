import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const PACKAGE_NAME = 'edgeloop';
const cache = new Map<string, string>();

/**
 * The version in the repository's package.json, read once at start: found by walking up from `from`, so
 * it works from the sources (apps/…/src), from a build (dist/apps/…) and in the images (which copy
 * package.json next to dist/). Throws when no package.json named `edgeloop` is above `from`.
 */
export function packageVersion(from: string = __dirname): string {
  const cached = cache.get(from);
  if (cached) return cached;
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = readManifest(join(dir, 'package.json'));
    if (manifest?.name === PACKAGE_NAME && typeof manifest.version === 'string') {
      cache.set(from, manifest.version);
      return manifest.version;
    }
    if (dirname(dir) === dir) throw new Error(`no package.json named "${PACKAGE_NAME}" above ${from}`);
  }
}

function readManifest(path: string): { name?: unknown; version?: unknown } | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as { name?: unknown; version?: unknown };
  } catch {
    return undefined;
  }
}
