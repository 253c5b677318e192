import { ApiClient } from '@edgeloop/client';
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadLogin } from '../cli-config';
import { printJson, say } from '../output';
import { loopLines, readLoopState, type LoopState } from '../start/loop-state';
import { isAlive, readStartState, type StartState } from '../start/state-file';

/** The exit code of `edgeloop status` when nothing runs in that data folder (as `systemctl status` does). */
export const NOT_RUNNING_EXIT_CODE = 3;

/** The CLI's login that `edgeloop start` wrote (the file named in its state), else the usual one. */
function clientFor(state: StartState): ApiClient {
  if (existsSync(state.cliConfig)) {
    const login = JSON.parse(readFileSync(state.cliConfig, 'utf8')) as { url?: string; token?: string };
    if (login.url === state.cloudUrl && login.token) return new ApiClient({ baseUrl: login.url, token: login.token, timeoutMs: 10_000 });
  }
  const login = loadLogin();
  return new ApiClient({ baseUrl: login.url, token: login.token, timeoutMs: 10_000 });
}

/**
 * `edgeloop status [--json]`: for a second terminal next to `npm start` — what runs (pids, addresses, logs, where
 * the CLI's token is) from `<data>/start.json`, and the state of the loop from the API (devices with version,
 * fps, faces recognised and backlog; the latest rollout, drift event and retraining run).
 */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('what `edgeloop start` runs in this data folder, its addresses and the state of the loop')
    .option('--data-dir <dir>', 'the data folder of `edgeloop start`', process.env.EDGELOOP_DATA_DIR ?? './data')
    .option('--json', 'one JSON object: { running, start, loop }')
    .action(async (options: { dataDir: string; json?: boolean }) => {
      const dataDir = resolve(options.dataDir);
      const state = readStartState(dataDir);
      if (!state || !isAlive(state.pid)) {
        if (options.json) printJson({ running: false, dataDir });
        else say(`edgeloop is not running in ${dataDir} (start it with \`npm start\`)`);
        process.exitCode = NOT_RUNNING_EXIT_CODE;
        return;
      }
      let loop: LoopState | undefined;
      let problem: string | undefined;
      try {
        loop = await readLoopState(clientFor(state), state.startedAt);
      } catch (err) {
        problem = (err as Error).message;
      }
      if (options.json) return printJson({ running: true, start: state, loop: loop ?? null, ...(problem ? { problem } : {}) });
      const uptime = Math.round((Date.now() - Date.parse(state.startedAt)) / 1000);
      say(`edgeloop is running (pid ${state.pid}, for ${uptime >= 60 ? `${Math.floor(uptime / 60)} min ${uptime % 60} s` : `${uptime} s`})`);
      say(`  dashboard      ${state.dashboardUrl}`);
      say(`  cloud API      ${state.apiUrl}`);
      say(`  MQTT broker    ${state.brokerUrl}`);
      say(`  Redis          ${state.redisUrl}`);
      say(`  S3 server      ${state.s3Url}`);
      say(`  CLI login      ${state.cliConfig}`);
      say(`  processes      ${state.children.map((c) => `${c.name} ${c.pid ?? '?'}`).join(', ')}`);
      say(`  logs           ${Object.values(state.logs)[0]?.replace(/[^/]+$/, '') ?? '-'}`);
      say('');
      if (loop) for (const line of loopLines(loop)) say(line);
      else say(`the API did not answer: ${problem}`);
    });
}
