import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(__dirname, '..', '..');

export interface CloudBuild {
  /** The compiled production entry point. */
  main: string;
  remove(): void;
}

/**
 * Compiles the cloud (and the libs it imports) with swc into a folder of its own, so that no other build
 * of `dist/` (`npm run build` removes it first) pulls the files from under the running processes. The
 * folder is under the repository (the ignored `.cache/`) so that every child the cloud spawns — the ONNX
 * validator runs with PATH only — finds node_modules by walking up, as it does from `dist/`.
 *
 * With `E2E_BUILD_REF` set (e.g. `HEAD`), the sources are that commit's (`git archive`), not the working
 * tree's: on a tree where others have work in progress, the test then runs what is committed.
 */
export function buildCloud(): CloudBuild {
  mkdirSync(join(repoRoot, '.cache'), { recursive: true });
  const out = mkdtempSync(join(repoRoot, '.cache', 'cloud-build-'));
  const ref = process.env.E2E_BUILD_REF;
  let sourceRoot = repoRoot;
  if (ref) {
    sourceRoot = join(out, 'src');
    mkdirSync(sourceRoot);
    const archive = execFileSync('git', ['archive', '--format=tar', ref, 'apps/cloud/src', 'libs', '.swcrc'], { cwd: repoRoot, maxBuffer: 512 * 1024 * 1024 });
    execFileSync('tar', ['-x', '-C', sourceRoot], { input: archive });
  }
  execFileSync(
    process.execPath,
    [
      join(repoRoot, 'node_modules', '@swc', 'cli', 'bin', 'swc.js'),
      'apps/cloud/src',
      'libs',
      '-d',
      join(out, 'build'),
      '--copy-files',
      '--quiet',
      '--ignore',
      '**/*.spec.ts,**/*.int.ts',
    ],
    { cwd: sourceRoot },
  );
  if (ref) rmSync(sourceRoot, { recursive: true, force: true });
  return { main: join(out, 'build', 'apps', 'cloud', 'src', 'main.js'), remove: () => rmSync(out, { recursive: true, force: true }) };
}
