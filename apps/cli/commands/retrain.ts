import type { EdgeloopApi } from '@edgeloop/client';
import { RETRAINING_STEPS, type RetrainingRun } from '@edgeloop/contracts';
import { Command } from 'commander';
import { cliApi } from '../api';
import { printJson, say } from '../output';

interface RetrainOptions {
  autoCanary?: boolean;
  follow: boolean;
  json?: boolean;
}

/** One line per state of a run: status, step, overall progress. */
function describeRun(run: RetrainingRun): string {
  const step = run.step ? ` ${run.step}` : '';
  return `${run.id} ${run.modelName}@${run.baseVersion}: ${run.status}${step} ${(run.progress * 100).toFixed(0)}%`;
}

/** The run's outcome in a few lines: dataset, steps with timings, the gate's verdict, the candidate. */
export function summariseRun(run: RetrainingRun): string[] {
  const lines = [describeRun(run)];
  if (run.dataset) {
    const s = run.dataset.splits;
    lines.push(
      `  dataset ${run.dataset.digest.slice(0, 12)}: ${run.dataset.examples} examples of ${run.dataset.identities} identities (train ${s.train}, validation ${s.validation}, calibration ${s.calibration}, holdout ${s.holdout})`,
    );
  }
  for (const step of RETRAINING_STEPS) {
    const state = run.steps[step];
    if (state && state.status !== 'pending')
      lines.push(
        `  ${step.padEnd(14)} ${state.status}${state.durationMs !== null ? ` in ${state.durationMs} ms` : ''}${state.attempts > 1 ? ` (${state.attempts} attempts)` : ''}`,
      );
  }
  if (run.report) {
    const p = run.report.primary;
    const production = p.production === null ? 'no production head' : `production ${(p.production * 100).toFixed(2)}%`;
    lines.push(`  gate: ${run.report.verdict} — ${p.metric} ${(p.candidate * 100).toFixed(2)}% vs ${production}`);
    for (const reason of run.report.reasons) lines.push(`    ${reason}`);
  }
  if (run.candidate)
    lines.push(
      `  candidate: ${run.candidate.name}@${run.candidate.version}${run.canary.state !== 'none' ? ` (canary ${run.canary.state}${run.canary.reason ? `: ${run.canary.reason}` : ''})` : ''}`,
    );
  if (run.error) lines.push(`  error: ${run.error}`);
  return lines;
}

export async function followRun(api: EdgeloopApi, id: string, pollMs = 1000): Promise<RetrainingRun> {
  let last = '';
  for (;;) {
    const run = await api.retrainingRun(id);
    const line = describeRun(run);
    if (line !== last) {
      last = line;
      say(line);
    }
    if (!['queued', 'running'].includes(run.status)) return run;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** `edgeloop retrain NAME@REF` and `edgeloop retrain-runs [ID]`. */
export function registerRetrain(program: Command): void {
  program
    .command('retrain')
    .description('retrain the identity head of a model version and follow the run (dataset → train → calibrate → evaluate → register)')
    .argument('<base>', 'NAME@VERSION or NAME@ALIAS to improve on, usually NAME@production')
    .option('--auto-canary', 'start a canary rollout of the candidate, and promote it to production when the canary completes')
    .option('--no-follow', 'return at once instead of following the run')
    .option('--json', 'print the final run as JSON')
    .action(async (base: string, options: RetrainOptions) => {
      const api = cliApi();
      const created = await api.startRetraining({ base, autoCanary: options.autoCanary === true });
      say(`retraining run ${created.id} of ${created.modelName}@${created.baseVersion} queued`);
      const final = options.follow ? await followRun(api, created.id) : created;
      if (options.json) printJson(final);
      else if (options.follow) for (const line of summariseRun(final).slice(1)) say(line);
      if (options.follow && final.status !== 'completed') process.exitCode = 1;
    });

  program
    .command('retrain-runs')
    .description('show a retraining run, or list the recent ones')
    .argument('[id]', 'run id')
    .option('--model <name>', 'only runs of this model')
    .option('--json', 'print JSON')
    .action(async (id: string | undefined, options: { model?: string; json?: boolean }) => {
      const api = cliApi();
      if (id) {
        const run = await api.retrainingRun(id);
        if (options.json) printJson(run);
        else for (const line of summariseRun(run)) say(line);
        return;
      }
      const runs = await api.retrainingRuns(options.model);
      if (options.json) printJson(runs);
      else for (const run of runs) say(describeRun(run));
    });
}
