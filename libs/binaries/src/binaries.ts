import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

/** The Debian package that provides each server or tool the embedded mode, the test harness or the apps run. */
const DEBIAN_PACKAGES: Readonly<Record<string, string>> = {
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
  mosquitto: 'mosquitto',
  mosquitto_passwd: 'mosquitto',
  mosquitto_ctrl: 'mosquitto',
  mosquitto_pub: 'mosquitto-clients',
  ffmpeg: 'ffmpeg',
  ffprobe: 'ffmpeg',
  postgres: 'postgresql',
  initdb: 'postgresql',
  pg_ctl: 'postgresql',
  psql: 'postgresql-client',
  setpriv: 'util-linux',
  chromium: 'chromium',
};

/** Directories that hold daemons but are often missing from a non-root PATH. */
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

export class MissingBinaryError extends Error {
  readonly code = 'MISSING_BINARY';
  constructor(
    readonly binary: string,
    readonly debianPackage: string | undefined,
  ) {
    super(
      debianPackage
        ? `${binary} was not found on the PATH; install it with: apt-get install -y ${debianPackage}`
        : `${binary} was not found on the PATH; install the package that provides it`,
    );
    this.name = 'MissingBinaryError';
  }
}

export function debianPackageFor(binary: string): string | undefined {
  return DEBIAN_PACKAGES[binary];
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Absolute path of an executable on the PATH (plus the sbin directories), or undefined. */
export function findBinary(name: string, searchPath: string = process.env.PATH ?? ''): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  const dirs = [...searchPath.split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Absolute path of `name`, or a MissingBinaryError that names the Debian package to install. */
export function requireBinary(name: string): string {
  const found = findBinary(name);
  if (!found) throw new MissingBinaryError(name, debianPackageFor(name));
  return found;
}

function compareVersionsDescending(a: string, b: string): number {
  return Number.parseFloat(b) - Number.parseFloat(a);
}

/**
 * The directory that holds `initdb` and `postgres`: the given one, the newest
 * /usr/lib/postgresql/<version>/bin (Debian keeps them off the PATH), or the directory an
 * `initdb` on the PATH resolves to.
 */
export function findPostgresBinDir(explicit?: string): string | undefined {
  const holdsServer = (dir: string): boolean => isExecutable(join(dir, 'initdb')) && isExecutable(join(dir, 'postgres'));
  if (explicit) return holdsServer(explicit) ? explicit : undefined;
  try {
    const versions = readdirSync('/usr/lib/postgresql').sort(compareVersionsDescending);
    for (const version of versions) {
      const dir = join('/usr/lib/postgresql', version, 'bin');
      if (holdsServer(dir)) return dir;
    }
  } catch {
    // no Debian layout; fall through to the PATH
  }
  const initdb = findBinary('initdb');
  if (initdb) {
    const dir = dirname(realpathSync(initdb));
    if (holdsServer(dir)) return dir;
  }
  return undefined;
}

export function requirePostgresBinDir(explicit?: string): string {
  const dir = findPostgresBinDir(explicit);
  if (!dir) throw new MissingBinaryError('postgres', debianPackageFor('postgres'));
  return dir;
}

/** Where an ffmpeg came from: named by the caller (`EDGE_FFMPEG_PATH`), the PATH, or the npm package. */
export type FfmpegOrigin = 'explicit' | 'path' | 'npm';

export interface FfmpegBinary {
  path: string;
  origin: FfmpegOrigin;
  /**
   * `-fps_mode` (ffmpeg ≥ 5.1) and `-stats_period` (≥ 4.4) are known to this ffmpeg. Read from the
   * libavformat version `ffmpeg -version` prints (59.27 and 58.76), because static builds such as the
   * npm one print a git id, not a release number. Unknown (an explicit path that does not run): true.
   */
  fpsMode: boolean;
  statsPeriod: boolean;
}

/** The npm package whose per-platform optional dependency carries an ffmpeg binary. */
export const FFMPEG_NPM_PACKAGE = '@ffmpeg-installer/ffmpeg';

/** The ffmpeg binary shipped by the npm package, or undefined when this platform has none installed. */
export function packagedFfmpegPath(): string | undefined {
  try {
    // The package throws a string (not an Error) on a platform it has no binary for.
    const packaged = require(FFMPEG_NPM_PACKAGE) as { path?: unknown };
    return typeof packaged.path === 'string' && isExecutable(packaged.path) ? packaged.path : undefined;
  } catch {
    return undefined;
  }
}

const dialects = new Map<string, Pick<FfmpegBinary, 'fpsMode' | 'statsPeriod'>>();

function ffmpegDialect(path: string): Pick<FfmpegBinary, 'fpsMode' | 'statsPeriod'> {
  const known = dialects.get(path);
  if (known) return known;
  const run = spawnSync(path, ['-hide_banner', '-version'], { encoding: 'utf8', timeout: 10_000 });
  const match = /libavformat\s+(\d+)\.\s*(\d+)/.exec(run.stdout ?? '');
  const at = (major: number, minor: number): boolean => !match || Number(match[1]) > major || (Number(match[1]) === major && Number(match[2]) >= minor);
  const dialect = { fpsMode: at(59, 27), statsPeriod: at(58, 76) };
  if (match) dialects.set(path, dialect);
  return dialect;
}

/**
 * The one place every part of edgeloop finds ffmpeg (the edge's video sources, the tests' clip makers,
 * the demo): an explicit path when one is configured, else `ffmpeg` on the PATH, else the binary of the
 * npm package `@ffmpeg-installer/ffmpeg`, so `npm install` is enough. Throws a MissingBinaryError naming
 * both ways to get one when there is none.
 */
export function resolveFfmpeg(options: { explicit?: string; searchPath?: string } = {}): FfmpegBinary {
  const found: { path: string; origin: FfmpegOrigin } | undefined = options.explicit
    ? { path: options.explicit, origin: 'explicit' }
    : (() => {
        const onPath = findBinary('ffmpeg', options.searchPath);
        if (onPath) return { path: onPath, origin: 'path' as const };
        const packaged = packagedFfmpegPath();
        return packaged ? { path: packaged, origin: 'npm' as const } : undefined;
      })();
  if (!found) throw new MissingFfmpegError();
  return { ...found, ...ffmpegDialect(found.path) };
}

/** resolveFfmpeg without the throw: for callers that fall back to something else (the demo's frames). */
export function findFfmpeg(options: { explicit?: string; searchPath?: string } = {}): FfmpegBinary | undefined {
  try {
    return resolveFfmpeg(options);
  } catch {
    return undefined;
  }
}

export class MissingFfmpegError extends MissingBinaryError {
  constructor() {
    super('ffmpeg', 'ffmpeg');
    this.message = `ffmpeg was not found on the PATH nor in node_modules; run \`npm install\` (it brings ${FFMPEG_NPM_PACKAGE}) or: apt-get install -y ffmpeg`;
  }
}
