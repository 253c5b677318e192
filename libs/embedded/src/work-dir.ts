import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { onProcessExit } from './process-cleanup';

/** A directory a server keeps its files in: a fresh temp dir (owned, removed at stop) or a given one. */
export interface WorkDir {
  path: string;
  /** True when it was created here and removes it at stop. */
  owned: boolean;
}

/** Temp dirs made by this process and not removed yet; removed when the process exits. */
const ownedDirs = new Set<string>();
let cleanupRegistered = false;

function removeOwnedDirsSync(): void {
  for (const path of ownedDirs) rmSync(path, { recursive: true, force: true });
  ownedDirs.clear();
}

export function makeWorkDir(kind: string, given?: string): WorkDir {
  if (given) {
    const path = resolve(given);
    mkdirSync(path, { recursive: true });
    return { path, owned: false };
  }
  const path = mkdtempSync(join(tmpdir(), `edgeloop-${kind}-`));
  ownedDirs.add(path);
  if (!cleanupRegistered) {
    cleanupRegistered = true;
    onProcessExit(removeOwnedDirsSync, 1);
  }
  return { path, owned: true };
}

export function removeWorkDir(dir: WorkDir): void {
  if (!dir.owned) return;
  rmSync(dir.path, { recursive: true, force: true, maxRetries: 3 });
  ownedDirs.delete(dir.path);
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** uid and primary gid of a local user, from /etc/passwd. */
export function userIds(user: string): { uid: number; gid: number } {
  const passwd = readFileSync('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name === user && uid !== undefined && gid !== undefined) return { uid: Number(uid), gid: Number(gid) };
  }
  throw new Error(`user ${user} does not exist on this machine`);
}

export function chownTo(path: string, user: string): void {
  const { uid, gid } = userIds(user);
  chownSync(path, uid, gid);
}
