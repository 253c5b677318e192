import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { listFiles } from './image-tree.support';

const root = resolve(__dirname, '..');

/** Test files, test kits (testing/, test/), fixtures, the test harness: what a production build never holds. */
const TEST_CODE = /(\.(spec|int|e2e)\.js$)|(^|\/)(testing|test|fixtures|__fixtures__)\/|^libs\/harness\//;

/** Relative requires of the compiled files that point at no file of the build. */
function unresolvedRequires(dist: string, files: readonly string[]): string[] {
  const missing: string[] = [];
  for (const file of files.filter((f) => f.endsWith('.js'))) {
    for (const [, target] of readFileSync(join(dist, file), 'utf8').matchAll(/require\("(\.{1,2}\/[^"]+)"\)/g)) {
      const base = resolve(dirname(join(dist, file)), target);
      if (![base, `${base}.js`, join(base, 'index.js')].some((candidate) => existsSync(candidate) && candidate.startsWith(dist))) {
        missing.push(`${file} → ${target}`);
      }
    }
  }
  return missing;
}

/** `npm run build` and `npm run build:bench` (scripts/build-dist.js), each into a folder of its own. */
describe('the dist/ builds', () => {
  mkdirSync(join(root, '.cache'), { recursive: true });
  const scratch = mkdtempSync(join(root, '.cache', 'dist-build-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  const build = (name: string, ...args: string[]) => {
    const dist = join(scratch, name);
    execFileSync(process.execPath, [join(root, 'scripts', 'build-dist.js'), '--out', dist, ...args], { cwd: root });
    return { dist, files: listFiles(dist) };
  };

  it('production: the apps and libs they run on, no test, test kit, fixture, harness or bench, and every relative require resolves', () => {
    const { dist, files } = build('production');
    expect(files).toEqual(
      expect.arrayContaining([
        'apps/cli/main.js',
        'apps/cloud/src/main.js',
        'apps/edge/src/main.js',
        'libs/embedded/src/index.js',
        'libs/embedded/src/broker.js',
      ]),
    );
    expect(files.filter((f) => TEST_CODE.test(f) || /^(bench|e2e)\//.test(f))).toEqual([]);
    expect(unresolvedRequires(dist, files)).toEqual([]);
  }, 60_000);

  it('for the benches: bench/ and the test kits it runs on, still no test file', () => {
    const { dist, files } = build('bench', '--bench');
    expect(files).toEqual(expect.arrayContaining(['bench/rollout/run.js', 'libs/harness/src/index.js', 'apps/cloud/src/testing/cloud-fixture.js']));
    expect(files.filter((f) => /\.(spec|int|e2e)\.js$/.test(f) || f.startsWith('e2e/'))).toEqual([]);
    expect(unresolvedRequires(dist, files)).toEqual([]);
  }, 60_000);
});
