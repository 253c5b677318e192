/**
 * Retraining benchmark (not a test).
 * 1. Timing, per size (default 100 × 20 and 1,000 × 10, 3 runs each): a fresh cloud (`startCloud`, in this
 *    process) on Redis, an S3 server and PGlite in a temp folder; synthetic embeddings clustered like real
 *    faces (same person ≈ 0.8 cosine, strangers ≈ 0) stored as labelled hard examples from four cameras and
 *    read by the real TrainingDataService; each run timed from `POST /api/v1/retraining/jobs` to the
 *    candidate registered, per step, with `GET /api/v1/health` sampled from a worker thread meanwhile.
 * 2. Accuracy on real photos (bench/retrain/accuracy.ts): production and candidate from the run's evaluation
 *    report, and whether a person known only from labelled hard examples is recognised.
 * 3. For every registered candidate: the bytes a device on the base version downloads ÷ the full bundle.
 * Prints tables and target lines, writes bench/results/retrain.json.
 *
 *   npm run bench:retrain [-- --sizes 100x20,1000x10 --runs 3 --method auto --probe-ms 75 --no-accuracy --profile | --profile-first]
 *   BENCH_RETRAIN_THREADS=1: every late tick of the cloud's loop also records which of this process's threads had a
 *   core meanwhile and how busy the machine was (loop-lag.ts), kept with each slow `/health` answer in the results.
 */
// first: the cloud runs in this process, so this process starts again with the cloud's own V8 defaults (its young
// generation and heap growth, apps/cloud/src/app/process-defaults.ts), as `node dist/apps/cloud/src/main.js` does —
// without them the cloud here collected with V8's defaults for this machine (semi-spaces up to 64 MB), which no
// deployment runs, and its scavenges and full collections paused the loop up to 130-156 ms
import '../../apps/cloud/src/app/apply-process-defaults';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../common/repo-root';
import { resultsNameFromEnv, writeResultsFile } from '../common/results-file';
import { stopOnSignal } from '../common/stop-on-signal';
import { measureAccuracy, type AccuracyResult } from './accuracy';
import { printAccuracy, printSize, resultsDocument } from './report';
import { settingsFrom } from './settings';
import { measureSize, type SizeResult } from './timing';

const out = (line = '') => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const settings = settingsFrom(process.argv.slice(2), process.env);
  const loadBefore = os.loadavg();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'edgeloop-bench-retrain-'));
  const stop = stopOnSignal(async () => rmSync(workDir, { recursive: true, force: true }));
  try {
    out(
      `retraining bench: sizes ${settings.sizes.map((s) => `${s.identities}×${s.perIdentity}`).join(', ')}, ${settings.runs} runs each, trainer ${settings.method}`,
    );
    out(`load average at start: ${loadBefore.map((v) => v.toFixed(2)).join(' ')}; node flags (the cloud's own defaults): ${process.execArgv.join(' ')}`);
    const sizes: SizeResult[] = [];
    for (const size of settings.sizes) {
      sizes.push(await measureSize(size, settings, path.join(workDir, `${size.identities}x${size.perIdentity}`)));
    }
    const accuracy: AccuracyResult | null = settings.accuracy ? await measureAccuracy(settings, path.join(workDir, 'accuracy')) : null;
    for (const size of sizes) printSize(size);
    if (accuracy) printAccuracy(accuracy);
    out(
      `load average at end: ${os
        .loadavg()
        .map((v) => v.toFixed(2))
        .join(' ')}`,
    );
    const resultsDir = path.join(repoRoot(), 'bench', 'results');
    mkdirSync(resultsDir, { recursive: true });
    const file = path.join(resultsDir, resultsNameFromEnv('BENCH_RETRAIN_RESULTS', 'retrain.json'));
    writeResultsFile(file, resultsDocument(settings, loadBefore, sizes, accuracy));
    out(`results: ${path.relative(repoRoot(), file)}`);
  } finally {
    await stop();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}${(err as { cause?: unknown }).cause ? `\ncause: ${String((err as { cause?: unknown }).cause)}` : ''}\n`);
  process.exit(1);
});
