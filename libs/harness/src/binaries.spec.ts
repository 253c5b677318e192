import { debianPackageFor, findBinary, MissingBinaryError, requireBinary } from './binaries';

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

  it('reports a missing ffmpeg with its package when it is absent here', () => {
    if (findBinary('ffmpeg')) return; // installed on this machine: nothing to report
    expect(() => requireBinary('ffmpeg')).toThrow('apt-get install -y ffmpeg');
  });
});
