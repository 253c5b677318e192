import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';

export const repoRoot = resolve(__dirname, '..');

/** npm installs of the image trees, kept across test runs and keyed by the lock file's hash (see the script). */
export const IMAGE_INSTALL_CACHE = join(tmpdir(), 'edgeloop-image-install-cache');

export interface ImageTree {
  dir: string;
  remove(): void;
}

/** Assembles an app's image tree as its Dockerfile does (scripts/assemble-image-tree.js) into a temp folder. */
export function assembleImageTree(app: 'edge' | 'cloud', arch: 'x64' | 'arm64', extra: string[] = []): ImageTree {
  const dir = mkdtempSync(join(tmpdir(), `edgeloop-${app}-${arch}-tree-`));
  execFileSync(
    process.execPath,
    [join(repoRoot, 'scripts', 'assemble-image-tree.js'), '--app', app, '--arch', arch, '--out', dir, '--install-cache', IMAGE_INSTALL_CACHE, ...extra],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], timeout: 10 * 60_000 },
  );
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** This machine's architecture in the script's names, or undefined where images are not built (not x64/arm64). */
export const hostArch = process.arch === 'x64' || process.arch === 'arm64' ? process.arch : undefined;

/** Every file under `dir`, as paths relative to it. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const full = join(at, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) out.push(relative(dir, full));
    }
  };
  walk(dir);
  return out.sort();
}

/** ELF machine numbers (e_machine) of the architectures images are built for. */
export const ELF_MACHINE = { x64: 62, arm64: 183 } as const;

export type BinaryHeader = { format: 'elf'; bits: 32 | 64; machine: number; littleEndian: boolean } | { format: 'mach-o' } | { format: 'pe' } | undefined;

/**
 * What kind of native binary a file is, from its header: ELF (with e_machine), Mach-O (macOS, thin or fat)
 * or PE (Windows); undefined for anything else.
 */
export function binaryHeader(file: string): BinaryHeader {
  const head = Buffer.alloc(64);
  const fd = openSync(file, 'r');
  let read: number;
  try {
    read = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (read >= 20 && head.readUInt32BE(0) === 0x7f454c46) {
    const littleEndian = head[5] === 1;
    return { format: 'elf', bits: head[4] === 2 ? 64 : 32, machine: littleEndian ? head.readUInt16LE(18) : head.readUInt16BE(18), littleEndian };
  }
  if (read >= 4 && [0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe].includes(head.readUInt32BE(0))) return { format: 'mach-o' };
  if (read >= 64 && head.toString('latin1', 0, 2) === 'MZ') {
    const peOffset = head.readUInt32LE(0x3c);
    const sig = Buffer.alloc(4);
    const fd2 = openSync(file, 'r');
    try {
      readSync(fd2, sig, 0, 4, peOffset);
    } finally {
      closeSync(fd2);
    }
    if (sig.toString('latin1') === 'PE\0\0') return { format: 'pe' };
  }
  return undefined;
}

/** A process started from a tree, with its output kept for assertions. */
export class TreeProcess {
  output = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  /** `node <main>` with the tree as working directory and an environment holding only `env` (no NODE_PATH). */
  constructor(tree: string, main: string, env: Record<string, string | undefined>) {
    this.child = spawn(process.execPath, [main], {
      cwd: tree,
      env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async waitForOutput(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    return until(
      async () => {
        const match = this.output.match(pattern);
        if (!match && !this.alive) throw new Error(`the process exited before printing ${pattern}:\n${this.output.slice(-3000)}`);
        return match ?? undefined;
      },
      timeoutMs,
      () => `no ${pattern}:\n${this.output.slice(-3000)}`,
    );
  }

  async stop(): Promise<number | null> {
    if (this.alive) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** Polls `check` until it returns a value, or throws after `timeoutMs`. */
export async function until<T>(check: () => Promise<T | undefined>, timeoutMs: number, describe: () => string = () => 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not met within ${timeoutMs} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Folders Node would search for a package outside the tree: none may exist, or a test could pass by luck. */
export function modulesOutside(tree: string): string[] {
  const found: string[] = [];
  for (let dir = dirname(tree); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules'))) found.push(join(dir, 'node_modules'));
    if (dirname(dir) === dir) break;
  }
  return found;
}
