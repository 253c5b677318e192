import { DeviceIdSchema, EpochMsSchema, RecordIdSchema, type DesiredState } from '@edgeloop/contracts';
import { join } from 'node:path';
import { z } from 'zod';
import { Logger } from '../logger';
import { readJsonFile, writeFileAtomic } from './atomic-file';

/** The newest desired state a device accepted: when it was issued, and which message it was. */
export interface AcceptedDesired {
  issuedAt: number;
  /** The signature value: the same message delivered again (retained, after a reconnect) is not a replay. */
  signature: string;
  deploymentId: string;
}

const WatermarkFileSchema = z.object({
  v: z.literal(1),
  devices: z.record(
    DeviceIdSchema,
    z.object({ issuedAt: EpochMsSchema, signature: z.string().min(1).max(200), deploymentId: RecordIdSchema }),
  ),
});

export type Freshness = { fresh: true } | { fresh: false; reason: string };

/**
 * Replay protection for signed desired states: the `issuedAt` of the newest desired state each device
 * accepted, kept in `desired-watermark.json` under the state directory (replaced atomically, so it survives
 * a kill -9 and a restart). A desired state issued before it — or at the same millisecond but another
 * message — is stale: an old signed state replayed (say one with `rollback: true`) is refused, however
 * valid its signature. The cloud issues a strictly newer `issuedAt` for each new desired state of a device.
 *
 * Only `accept` moves the mark, and the deployer calls it only after the signature verified: an unsigned
 * message cannot raise it to lock the device out.
 */
export class DesiredStateWatermark {
  private readonly logger = new Logger(DesiredStateWatermark.name);
  private devices: Record<string, AcceptedDesired> = {};
  readonly file: string;

  constructor(stateDir: string) {
    this.file = join(stateDir, 'desired-watermark.json');
  }

  /** Reads the file; one that does not parse is reported and ignored (writes are atomic: it was tampered with). */
  async load(): Promise<void> {
    let stored: unknown;
    try {
      stored = await readJsonFile(this.file);
    } catch (err) {
      this.logger.error(`${this.file} is unreadable (${(err as Error).message}); starting without a desired-state watermark`);
      return;
    }
    if (stored === undefined) return;
    const parsed = WatermarkFileSchema.safeParse(stored);
    if (parsed.success) this.devices = parsed.data.devices;
    else this.logger.error(`${this.file} is not a desired-state watermark; starting without one`);
  }

  /** The newest accepted desired state of `deviceId`, if any. */
  accepted(deviceId: string): AcceptedDesired | undefined {
    return this.devices[deviceId];
  }

  /** Whether `desired` may be applied: issued after the newest accepted one, or that very message again. */
  check(desired: DesiredState): Freshness {
    const mark = this.devices[desired.deviceId];
    if (!mark || desired.issuedAt > mark.issuedAt) return { fresh: true };
    if (desired.issuedAt === mark.issuedAt && desired.signature.value === mark.signature) return { fresh: true };
    const when = (ms: number) => new Date(ms).toISOString();
    return {
      fresh: false,
      reason:
        `stale desired state (deployment ${desired.deploymentId}, issued ${when(desired.issuedAt)}): ` +
        `deployment ${mark.deploymentId}, issued ${when(mark.issuedAt)}, was already accepted; a replayed or out-of-order desired state is refused`,
    };
  }

  /** Moves the mark to `desired` (persisted before it returns); never moves it back. */
  async accept(desired: DesiredState): Promise<void> {
    const mark = this.devices[desired.deviceId];
    if (mark && (mark.issuedAt > desired.issuedAt || (mark.issuedAt === desired.issuedAt && mark.signature === desired.signature.value))) return;
    const devices = {
      ...this.devices,
      [desired.deviceId]: { issuedAt: desired.issuedAt, signature: desired.signature.value, deploymentId: desired.deploymentId },
    };
    await writeFileAtomic(this.file, JSON.stringify({ v: 1, devices }));
    this.devices = devices;
  }
}
