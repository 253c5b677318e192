/**
 * Edge worker benchmark (not a test). Two questions of issue 4, answered with the real worker
 * (`dist/apps/edge/src/main.js`) as a child process:
 *
 * 1. Memory: RSS with the models loaded, from /proc/<pid>/status, over steady inference on a folder of
 *    franck frames (no broker), with the container's allocator settings (read from apps/edge/Dockerfile)
 *    and with glibc's and V8's defaults; what the modules cost before any model; and what each
 *    onnxruntime session memory option changes, in RSS and in latency.
 * 2. Hot switches: frames posted by a camera at a fixed rate vs frames processed, failed and dropped
 *    while the cloud (REST API, signed desired states over its broker) switches the worker's model N
 *    times, and how long each switch takes.
 *
 * Prints tables and writes bench/results/edge.json.
 *
 *   npm run bench:edge
 *   BENCH_EDGE_STEADY_S=20 BENCH_EDGE_FPS=5 BENCH_EDGE_SWITCHES=50 BENCH_EDGE_PUSH_FPS=5
 *   BENCH_EDGE_BROKER=mosquitto|embedded BENCH_EDGE_DEFAULTS_RUN=1 BENCH_EDGE_SESSION_OPTIONS=1 (defaults shown)
 */
import { dynamicSecurityPluginPath } from '@edgeloop/harness';
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../common/repo-root';
import { writeResultsFile } from '../common/results-file';
import { franckFrameFiles } from './frames';
import { measureHotSwitch } from './hot-switch';
import { measureMemory } from './memory';
import { printResults, resultsDocument, type EdgeBenchResults } from './report';
import { measureSessionOptions } from './session-options';
import { containerMemoryEnv, readSettings } from './settings';

async function main(): Promise<void> {
  const started = Date.now();
  const loadBefore = os.loadavg();
  const root = repoRoot();
  const settings = readSettings();
  if (settings.broker === 'mosquitto' && !dynamicSecurityPluginPath()) {
    process.stdout.write('the mosquitto dynamic-security plugin is not installed: using the embedded broker\n');
    settings.broker = 'embedded';
  }
  franckFrameFiles(root);
  const containerEnv = containerMemoryEnv(root);
  const step = (what: string) => process.stdout.write(`[${Math.round((Date.now() - started) / 1000)} s] ${what}\n`);

  step('memory: modules, models loaded, steady inference');
  const memory = await measureMemory(root, settings, containerEnv);
  // BENCH_EDGE_SESSION_OPTIONS=0 skips the session-option probes (≈ 3 minutes; they do not change between runs of the same code).
  const sessionOptions =
    process.env.BENCH_EDGE_SESSION_OPTIONS === '0'
      ? []
      : (step('onnxruntime session memory options'),
        await measureSessionOptions(root, { PATH: process.env.PATH ?? '', ...containerEnv }, {
          memoryFrames: settings.optionFrames,
          latencyRounds: settings.optionRounds,
        }));
  step(`hot switches (${settings.switches}, ${settings.broker} broker)`);
  const hotSwitch = await measureHotSwitch(root, settings, containerEnv);

  const results: EdgeBenchResults = { memory, sessionOptions, hotSwitch };
  const durationS = (Date.now() - started) / 1000;
  printResults(results, durationS);
  const file = path.join(root, 'bench', 'results', 'edge.json');
  mkdirSync(path.dirname(file), { recursive: true });
  writeResultsFile(file, resultsDocument(results, settings, { durationS, loadBefore, loadAfter: os.loadavg() }));
  process.stdout.write(`wrote ${path.relative(root, file)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:edge failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
