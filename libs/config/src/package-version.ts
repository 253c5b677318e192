import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const PACKAGE_NAME = 'edgeloop';
const cache = new Map<string, string>();

/**
 * The version in the repository's package.json, read once at start. It is the nearest package.json named
 * `edgeloop` above `from` (this file: the sources under libs/, a build under dist/, the images, which copy
 * package.json next to dist/), else above the working directory (a build compiled into a temp folder and
 * started from the repository). Throws when neither has one.
 */
export function packageVersion(from: string = __dirname, cwd: string = process.cwd()): string {
  const key = `${from}\n${cwd}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const version = versionAbove(from) ?? versionAbove(cwd);
  if (version === undefined) throw new Error(`no package.json named "${PACKAGE_NAME}" above ${from} or above ${cwd}`);
  cache.set(key, version);
  return version;
}

function versionAbove(start: string): string | undefined {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = readManifest(join(dir, 'package.json'));
    if (manifest?.name === PACKAGE_NAME && typeof manifest.version === 'string') return manifest.version;
    if (dirname(dir) === dir) return undefined;
  }
}

function readManifest(path: string): { name?: unknown; version?: unknown } | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as { name?: unknown; version?: unknown };
  } catch {
    return undefined;
  }
}
