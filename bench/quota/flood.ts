import type { ChildProcess } from 'node:child_process';
import { spawnAttacker } from '../../apps/cloud/src/testing/attacker-process';

/** A device's flood: `mosquitto_pub -l` (QoS 1, 32 in flight) fed by awk, in a process group of its own. */
export interface Flood {
  child: ChildProcess;
  /** The last of what mosquitto_pub wrote to stderr (a refused or lost connection says so there); empty when it said nothing. */
  errors(): string;
  /** Stops awk and mosquitto_pub; resolves when they are gone. */
  stop(): Promise<void>;
}

/**
 * Starts a device publishing `line` (with `${n}` replaced by the line number) on `topic` as fast as the broker
 * acknowledges, with the device's own credentials, from processes of its own (the bench's event loop does not
 * write the lines) at the lowest priority (`spawnAttacker`). Runs until stopped.
 */
export function startFlood(brokerUrl: string, device: { id: string; password: string }, topic: string, line: string): Flood {
  const url = new URL(brokerUrl);
  const [before, after = ''] = line.split('${n}');
  // at the lowest priority, as the quota test's floods: an attacker's CPU is not the cloud's machine's
  const child = spawnAttacker(
    'awk \'BEGIN { for (i = 1; i <= 1000000000; i++) print ENVIRON["BEFORE"] i ENVIRON["AFTER"] }\' | ' +
      'exec mosquitto_pub -h "$HOST" -p "$PORT" -i "$ID" -u "$ID" -P "$PASSWORD" -t "$TOPIC" -q 1 -M 32 -l',
    { BEFORE: before, AFTER: after, HOST: url.hostname, PORT: url.port, ID: device.id, PASSWORD: device.password, TOPIC: topic },
    ['ignore', 'ignore', 'pipe'],
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-500);
  });
  return {
    child,
    errors: () => stderr.trim(),
    async stop() {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      await exited;
    },
  };
}
