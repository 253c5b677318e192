import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageVersion } from './package-version';

describe('packageVersion', () => {
  it('is the version of the repository package.json', () => {
    const root = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(packageVersion()).toBe(root.version);
  });

  it('falls back to the working directory for a build compiled outside the repository', () => {
    const build = mkdtempSync(join(tmpdir(), 'pkg-version-build-'));
    try {
      const root = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
      expect(packageVersion(join(build, 'libs', 'config', 'src'), join(__dirname, '..', '..', '..', 'apps'))).toBe(root.version);
    } finally {
      rmSync(build, { recursive: true, force: true });
    }
  });

  it('walks up past other packages to the one named edgeloop, as from a build under dist/', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pkg-version-'));
    try {
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'edgeloop', version: '3.4.5' }));
      const deep = join(dir, 'dist', 'apps', 'edge', 'src', 'agent');
      mkdirSync(deep, { recursive: true });
      writeFileSync(join(dir, 'dist', 'package.json'), JSON.stringify({ name: 'something-else', version: '9.9.9' }));
      expect(packageVersion(deep, tmpdir())).toBe('3.4.5');
      rmSync(join(dir, 'package.json'));
      expect(() => packageVersion(join(dir, 'dist', 'apps'), tmpdir())).toThrow(/no package.json named "edgeloop" above/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
