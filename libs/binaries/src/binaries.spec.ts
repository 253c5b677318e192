import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { debianPackageFor, findBinary, MissingBinaryError, MissingFfmpegError, packagedFfmpegPath, requireBinary, resolveFfmpeg } from './binaries';

describe('requireBinary', () => {
  it('throws a clear error for a binary that is not installed', () => {
    expect(() => requireBinary('definitely-not-installed-xyz')).toThrow(MissingBinaryError);
    expect(() => requireBinary('definitely-not-installed-xyz')).toThrow(
      'definitely-not-installed-xyz was not found on the PATH; install the package that provides it',
    );
  });

  it.each([
    ['redis-server', 'redis-server'],
    ['mosquitto', 'mosquitto'],
    ['ffmpeg', 'ffmpeg'],
    ['postgres', 'postgresql'],
  ])('names the Debian package for %s', (binary, debianPackage) => {
    expect(debianPackageFor(binary)).toBe(debianPackage);
    const error = new MissingBinaryError(binary, debianPackageFor(binary));
    expect(error.message).toBe(`${binary} was not found on the PATH; install it with: apt-get install -y ${debianPackage}`);
    expect(error.code).toBe('MISSING_BINARY');
  });

  it('returns the absolute path of an installed binary', () => {
    expect(requireBinary('sh')).toMatch(/^\/.*\/sh$/);
  });

  it('finds daemons in sbin directories even when the PATH lacks them', () => {
    const inSbin = findBinary('mosquitto', '/nonexistent');
    if (findBinary('mosquitto')?.includes('/sbin/')) expect(inSbin).toBeDefined();
  });
});

describe('resolveFfmpeg', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'edgeloop-binaries-'));
    // A stand-in ffmpeg on a PATH of its own: prints the version line of an ffmpeg 6.1.
    writeFileSync(join(dir, 'ffmpeg'), '#!/bin/sh\necho "libavformat    60. 16.100 / 60. 16.100"\n');
    chmodSync(join(dir, 'ffmpeg'), 0o755);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes the binary of the npm package when the PATH has no ffmpeg, and reads its option dialect', () => {
    const packaged = packagedFfmpegPath();
    expect(packaged).toMatch(/node_modules\/@ffmpeg-installer\/linux-x64\/ffmpeg$/);
    expect(resolveFfmpeg({ searchPath: '/nonexistent' })).toEqual({ path: packaged, origin: 'npm', fpsMode: false, statsPeriod: false });
  });

  it('prefers an ffmpeg on the PATH, and an explicit path over both', () => {
    expect(resolveFfmpeg({ searchPath: dir })).toEqual({ path: join(dir, 'ffmpeg'), origin: 'path', fpsMode: true, statsPeriod: true });
    expect(resolveFfmpeg({ explicit: '/opt/ff/ffmpeg', searchPath: dir })).toEqual({
      path: '/opt/ff/ffmpeg',
      origin: 'explicit',
      fpsMode: true,
      statsPeriod: true,
    });
  });

  it('names both ways to get ffmpeg in one line when there is none', () => {
    const error = new MissingFfmpegError();
    expect(error).toBeInstanceOf(MissingBinaryError);
    expect(error.message).toBe(
      'ffmpeg was not found on the PATH nor in node_modules; run `npm install` (it brings @ffmpeg-installer/ffmpeg) or: apt-get install -y ffmpeg',
    );
  });
});
