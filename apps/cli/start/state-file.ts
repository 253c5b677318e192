import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/**
 * `<data>/start.json`: what a running `edgeloop start` tells a second terminal (`edgeloop status`): its pid,
 * the addresses, where the CLI's login (URL + token) and the logs are. No secret is in it. Removed at stop.
 */
export const StartStateSchema = z.object({
  pid: z.number().int().positive(),
  startedAt: z.string(),
  dataDir: z.string(),
  cloudUrl: z.string().url(),
  apiUrl: z.string().url(),
  dashboardUrl: z.string().url(),
  brokerUrl: z.string(),
  redisUrl: z.string(),
  s3Url: z.string(),
  webhookReceiverUrl: z.string(),
  /** The file with the CLI's login (mode 600): every `edgeloop` command in another terminal uses it. */
  cliConfig: z.string(),
  logs: z.record(z.string(), z.string()),
  children: z.array(z.object({ name: z.string(), pid: z.number().int().nullable() })),
});
export type StartState = z.infer<typeof StartStateSchema>;

export function startStateFile(dataDir: string): string {
  return join(dataDir, 'start.json');
}

export function writeStartState(state: StartState): void {
  writeFileSync(startStateFile(state.dataDir), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

export function removeStartState(dataDir: string, pid = process.pid): void {
  const state = readStartState(dataDir);
  if (state?.pid === pid) rmSync(startStateFile(dataDir), { force: true });
}

/** The state of the run in this data folder, or undefined when there is none (or it is not readable). */
export function readStartState(dataDir: string): StartState | undefined {
  const file = startStateFile(dataDir);
  if (!existsSync(file)) return undefined;
  const parsed = StartStateSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  return parsed.success ? parsed.data : undefined;
}

/** True when a process with this pid is alive (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
