import { accessSync, constants, readdirSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

/** The Debian package that provides each server or tool the harness or the apps run. */
const DEBIAN_PACKAGES: Readonly<Record<string, string>> = {
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
  mosquitto: 'mosquitto',
  mosquitto_passwd: 'mosquitto',
  mosquitto_ctrl: 'mosquitto',
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
