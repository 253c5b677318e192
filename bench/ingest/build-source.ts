import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';

/** What the cloud under test was built from, read when the bench starts. */
export interface BuildSource {
  /** When the compiled cloud was written (the mtime of its `main.js`). */
  builtAt: string | null;
  /** The newest commit of HEAD's history committed before the build: the commit the build's sources were. */
  commit: string | null;
  /** Files under apps/ or libs/ that differed from `commit` and were last written before the build: in it. */
  uncommitted: string[];
  /** Files under apps/ or libs/ written after the build (in the tree when the bench started, not in what runs). */
  changedSinceBuild: string[];
}

/**
 * Reads the build's source from git and the files' mtimes, before the run: a run's end is minutes later, when
 * other commits and edits in a shared tree are not what was built. A file edited both before and after the build
 * counts as changed since (its mtime is the later edit).
 */
export function buildSource(root: string, mainJs: string): BuildSource {
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trimEnd();
    } catch {
      return null;
    }
  };
  const mtime = (file: string) => {
    try {
      return statSync(file).mtimeMs;
    } catch {
      return null;
    }
  };
  const built = mtime(mainJs);
  const commit =
    built === null ? git(['rev-parse', 'HEAD']) : git(['rev-list', '-1', `--before=${Math.floor(built / 1000)}`, 'HEAD']) || git(['rev-parse', 'HEAD']);
  const differing = [
    ...(commit ? (git(['diff', '--name-only', commit, '--', 'apps', 'libs']) ?? '').split('\n') : []),
    ...(git(['ls-files', '--others', '--exclude-standard', '--', 'apps', 'libs']) ?? '').split('\n'),
  ].filter(Boolean);
  const uncommitted: string[] = [];
  const changedSinceBuild: string[] = [];
  for (const file of [...new Set(differing)].sort()) {
    const written = mtime(path.join(root, file));
    // a file deleted since the commit has no mtime: its deletion is not dated, so it is listed as changed since
    if (built !== null && written !== null && written <= built) uncommitted.push(file);
    else changedSinceBuild.push(file);
  }
  return { builtAt: built === null ? null : new Date(built).toISOString(), commit, uncommitted, changedSinceBuild };
}
