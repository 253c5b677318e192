import { execFile, execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(__dirname, '..', '..', '..');
let built = false;

/** Compiles apps and libs into dist/ once per test process, as `npm run build` does (swc, a few seconds). */
export function buildDist(): void {
  if (built) return;
  // the production build of `npm start` (no tests or test kits), without emptying dist/ under other processes
  execFileSync(process.execPath, [join(repoRoot, 'scripts', 'build-dist.js'), '--keep'], { cwd: repoRoot });
  built = true;
}

/** Runs the compiled `edgeloop` CLI and returns its exit code and output. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  buildDist();
  return new Promise((done) => {
    execFile(
      process.execPath,
      [join(repoRoot, 'dist', 'apps', 'cli', 'main.js'), ...args],
      { cwd: repoRoot, env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
