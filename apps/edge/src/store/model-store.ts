import { sha256File } from '@edgeloop/client';
import {
  ModelVersionNumberSchema,
  ModelNameSchema,
  RecordIdSchema,
  SHA256_PATTERN,
  SignedManifestSchema,
  type ModelVersionRef,
  type SignedManifest,
} from '@edgeloop/contracts';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { isAtomicTempFile, readJsonFile, syncDirectory, writeFileAtomic } from './atomic-file';

/** Which installed version a pointer names, and the deployment that installed it. */
export interface VersionPointer {
  name: string;
  version: number;
  deploymentId: string | null;
  /** Epoch ms when the pointer was written. */
  at: number;
}

const VersionPointerSchema = z.object({
  name: ModelNameSchema,
  version: ModelVersionNumberSchema,
  deploymentId: RecordIdSchema.nullable(),
  at: z.number().int().nonnegative(),
});

export type PointerKind = 'active' | 'last-known-good';

export interface GarbageCollection {
  removedBlobs: number;
  removedPartials: number;
  removedVersions: number;
  freedBytes: number;
}

/**
 * The on-disk model store under the state directory:
 *
 *   blobs/sha256/<hex>         verified blobs, content-addressed and immutable
 *   blobs/sha256/<hex>.part    a partial download (resumed with HTTP Range)
 *   versions/<name>@<v>.json   the signed manifest of an installed version (written once all its blobs are verified)
 *   active.json                pointer to the version to run at boot
 *   last-known-good.json       pointer to the version to fall back to
 *   desired.json               the last desired state received, so an interrupted update resumes after a restart
 *   desired-watermark.json     the issuedAt of the newest accepted desired state (DesiredStateWatermark: replays refused)
 *
 * Every file other than blobs is replaced atomically (temp + fsync + rename + directory fsync), and a blob
 * only gets its final name after its sha256 was checked, so a kill -9 at any moment leaves a loadable set.
 */
export class ModelStore {
  readonly blobDir: string;
  private readonly versionDir: string;

  constructor(readonly root: string) {
    this.blobDir = join(root, 'blobs', 'sha256');
    this.versionDir = join(root, 'versions');
  }

  /** Creates the layout and removes temp files a killed process left behind. */
  async open(): Promise<void> {
    await mkdir(this.blobDir, { recursive: true });
    await mkdir(this.versionDir, { recursive: true });
    for (const dir of [this.root, this.versionDir, this.blobDir]) {
      for (const name of await readdir(dir)) if (isAtomicTempFile(name)) await rm(join(dir, name), { force: true });
    }
  }

  blobFile(sha256: string): string {
    if (!SHA256_PATTERN.test(sha256)) throw new RangeError(`not a sha256: ${sha256.slice(0, 80)}`);
    return join(this.blobDir, sha256);
  }

  async hasBlob(sha256: string): Promise<boolean> {
    return (await fileSize(this.blobFile(sha256))) !== undefined;
  }

  /** Bytes of a partial download kept for resumption (0 when none). */
  async partialBytes(sha256: string): Promise<number> {
    return (await fileSize(`${this.blobFile(sha256)}.part`)) ?? 0;
  }

  /** Re-hashes a stored blob; false when it is missing or its bytes no longer hash to its name. */
  async blobIntact(sha256: string): Promise<boolean> {
    try {
      return (await sha256File(this.blobFile(sha256))) === sha256;
    } catch {
      return false;
    }
  }

  /**
   * Copies a local file (the base models folder) into the store as blob `sha256`, if its bytes hash to
   * that; false otherwise. Saves downloading what the device already has.
   */
  async importBlob(sha256: string, source: string): Promise<boolean> {
    const dest = this.blobFile(sha256);
    const temp = `${dest}.tmp-${process.pid}-0`;
    try {
      await copyFile(source, temp);
      if ((await sha256File(temp)) !== sha256) {
        await rm(temp, { force: true });
        return false;
      }
      await rename(temp, dest);
      return true;
    } catch {
      await rm(temp, { force: true });
      return false;
    }
  }

  async removeBlob(sha256: string): Promise<void> {
    await rm(this.blobFile(sha256), { force: true });
  }

  private versionFile(ref: ModelVersionRef): string {
    return join(this.versionDir, `${ModelNameSchema.parse(ref.name)}@${ModelVersionNumberSchema.parse(ref.version)}.json`);
  }

  /** Records an installed version; call only once every blob it names is stored and verified. */
  async saveVersion(signed: SignedManifest): Promise<void> {
    await writeFileAtomic(this.versionFile(signed.manifest), JSON.stringify(signed));
  }

  /** True when this exact signed manifest is stored already (a version switched to before): no write needed. */
  async hasSavedVersion(signed: SignedManifest): Promise<boolean> {
    try {
      return (await readFile(this.versionFile(signed.manifest), 'utf8')) === JSON.stringify(signed);
    } catch {
      return false;
    }
  }

  /** The signed manifest of an installed version; undefined when it is not installed or its file is unreadable. */
  async readVersion(ref: ModelVersionRef): Promise<SignedManifest | undefined> {
    try {
      const parsed = SignedManifestSchema.safeParse(await readJsonFile(this.versionFile(ref)));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  async readPointer(kind: PointerKind): Promise<VersionPointer | undefined> {
    try {
      const parsed = VersionPointerSchema.safeParse(await readJsonFile(this.pointerFile(kind)));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Moves both pointers. last-known-good is written first: a crash between the two writes leaves
   * active on the old version (it still loads), never active on a version nothing falls back from.
   */
  async writePointers(active: VersionPointer, lastKnownGood: VersionPointer | null): Promise<void> {
    if (lastKnownGood) await writeFileAtomic(this.pointerFile('last-known-good'), JSON.stringify(lastKnownGood));
    else {
      await rm(this.pointerFile('last-known-good'), { force: true });
      await syncDirectory(this.root);
    }
    await writeFileAtomic(this.pointerFile('active'), JSON.stringify(active));
  }

  private pointerFile(kind: PointerKind): string {
    return join(this.root, `${kind}.json`);
  }

  /** Keeps the raw payload of the last desired state (written before the message is acknowledged). */
  async saveDesired(payload: Uint8Array): Promise<void> {
    await writeFileAtomic(join(this.root, 'desired.json'), payload);
  }

  async readDesired(): Promise<Buffer | undefined> {
    try {
      return await readFile(join(this.root, 'desired.json'));
    } catch {
      return undefined;
    }
  }

  async clearDesired(): Promise<void> {
    await rm(join(this.root, 'desired.json'), { force: true });
  }

  /**
   * Removes every version file not in `keep.versions`, and every blob and partial download that neither a
   * kept version nor `keep.blobs` (the version being applied) references.
   */
  async collectGarbage(keep: { versions: ModelVersionRef[]; blobs: Iterable<string> }): Promise<GarbageCollection> {
    const result: GarbageCollection = { removedBlobs: 0, removedPartials: 0, removedVersions: 0, freedBytes: 0 };
    const keptBlobs = new Set(keep.blobs);
    const keptVersions = new Set(keep.versions.map((ref) => `${ref.name}@${ref.version}.json`));
    for (const ref of keep.versions) {
      const signed = await this.readVersion(ref);
      // Never guess: without the manifest of a kept version its blobs are unknown, so nothing is removed.
      if (!signed) throw new Error(`the manifest of kept version ${ref.name}@${ref.version} is unreadable; nothing collected`);
      for (const file of signed.manifest.files) keptBlobs.add(file.sha256);
    }
    for (const name of await readdir(this.versionDir)) {
      if (keptVersions.has(name)) continue;
      await rm(join(this.versionDir, name), { force: true });
      result.removedVersions++;
    }
    for (const name of await readdir(this.blobDir)) {
      const partial = name.endsWith('.part');
      const sha256 = partial ? name.slice(0, -'.part'.length) : name;
      if (keptBlobs.has(sha256)) continue;
      const file = join(this.blobDir, name);
      result.freedBytes += (await fileSize(file)) ?? 0;
      await rm(file, { force: true });
      if (partial) result.removedPartials++;
      else result.removedBlobs++;
    }
    return result;
  }

  /** Total bytes of stored blobs (complete and partial). */
  async blobBytes(): Promise<number> {
    let total = 0;
    for (const name of await readdir(this.blobDir)) total += (await fileSize(join(this.blobDir, name))) ?? 0;
    return total;
  }
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? info.size : undefined;
  } catch {
    return undefined;
  }
}
