import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/**
 * Runs `script` (sh -c) as an attacker's device would run beside the cloud on a test machine: in a session and process
 * group of its own (stopped with `process.kill(-pid)`), at nice 19, and — with the kernel's autogroups
 * (`sched_autogroup_enabled`), where a new session is a scheduling group of its own that gets as much CPU as the
 * cloud's whatever its nice value — with its group at nice 19 too. An attacker's CPU is not the cloud's machine's: on 2
 * cores two floods at normal priority left the cloud's process unscheduled for 0.3–0.6 s (docs/quotas.md, Tests).
 */
export function spawnAttacker(script: string, env: NodeJS.ProcessEnv, stdio: StdioOptions): ChildProcess {
  const child = spawn('nice', ['-n', '19', 'sh', '-c', script], { stdio, detached: true, env: { PATH: process.env.PATH, ...env } });
  try {
    writeFileSync(`/proc/${child.pid}/autogroup`, '19');
  } catch {
    // no autogroups here: nice alone does it
  }
  return child;
}
