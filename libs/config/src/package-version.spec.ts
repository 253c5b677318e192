import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageVersion } from './package-version';

describe('packageVersion', () => {
  it('is the version of the repository package.json', () => {
    const root = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(packageVersion()).toBe(root.version);
  });

  it('walks up past other packages to the one named edgeloop, as from a build under dist/', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pkg-version-'));
    try {
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'edgeloop', version: '3.4.5' }));
      const deep = join(dir, 'dist', 'apps', 'edge', 'src', 'agent');
      mkdirSync(deep, { recursive: true });
      writeFileSync(join(dir, 'dist', 'package.json'), JSON.stringify({ name: 'something-else', version: '9.9.9' }));
      expect(packageVersion(deep)).toBe('3.4.5');
      rmSync(join(dir, 'package.json'));
      expect(() => packageVersion(join(dir, 'dist', 'apps'))).toThrow(/no package.json named "edgeloop"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
