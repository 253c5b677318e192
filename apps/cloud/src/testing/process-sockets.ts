import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * A process's TCP connections as Linux shows them under /proc, for tests that watch a program they did not write
 * (mosquitto_pub prints nothing when a broker closes its connection; it only reports the refused reconnect a second
 * later). Linux only; on another system (or once the process is gone) every answer is "none".
 */

/** The pid of a child of process `parent` whose command is `comm` (undefined while there is none). */
export function childNamed(parent: number, comm: string): number | undefined {
  let children: string[];
  try {
    children = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return undefined;
  }
  for (const child of children) {
    try {
      if (readFileSync(`/proc/${child}/comm`, 'utf8').trim() === comm) return Number(child);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** Whether process `pid` holds an established TCP connection to `remotePort` (IPv4 or IPv6). */
export function hasEstablishedConnection(pid: number, remotePort: number): boolean {
  let inodes: Set<string>;
  try {
    inodes = new Set(
      readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
        try {
          const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
          return match ? [match[1]!] : [];
        } catch {
          return [];
        }
      }),
    );
  } catch {
    return false;
  }
  if (inodes.size === 0) return false;
  const port = remotePort.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      if (fields[3] === '01' && fields[2]!.endsWith(`:${port}`) && inodes.has(fields[9]!)) return true;
    }
  }
  return false;
}
