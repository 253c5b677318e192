import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

let tempCounter = 0;

/**
 * Replaces `path` with `data` so that a crash at any moment leaves either the old content or the new,
 * never a torn file: write a temp file in the same directory, fsync it, rename it over the target, and
 * fsync the directory so the rename itself is durable.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${++tempCounter}`;
  try {
    const file = await open(temp, 'w', 0o644);
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await syncDirectory(dirname(path));
}

/** fsync a directory, making renames and unlinks inside it durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The parsed JSON of a file, or undefined when it does not exist; a file that is not JSON throws. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text) as unknown;
}

/** True for the temp files writeFileAtomic leaves behind when a process dies between write and rename. */
export function isAtomicTempFile(name: string): boolean {
  return /\.tmp-\d+-\d+$/.test(name);
}
