import { ApiError, type ApiClient } from '@edgeloop/client';
import {
  API_PREFIX,
  apiPaths,
  RETRAINING_STEPS,
  type DeploymentResponse,
  type RetrainingRun,
  type RetrainingSettings,
  type RetrainingStepState,
} from '@edgeloop/contracts';
import type { StoryClock, StoryLog } from './story-clock';

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

/**
 * The canary of the demo's two workers: half of them first (one worker), observed a few seconds, then the
 * rest. Stored as the model's retraining settings (the rest of them kept as they are).
 */
export async function setDemoCanary(api: ApiClient, model: string, log: StoryLog): Promise<void> {
  const path = `${API_PREFIX}/retraining/settings/${encodeURIComponent(model)}`;
  const current = await api.get<RetrainingSettings>(path);
  const canary = { ...current.canary, percent: 50, batchSize: 1, observeSeconds: 10 };
  await api.put(path, { ...current, canary });
  log.say('retrain', `canary settings of ${model}: one of the two workers first, 10 s of observation, then the other`);
}

/** The demo model's near-duplicate gap: its passes are seconds long, a fixed camera's default (60 s) would make the demo wait minutes. */
export async function setDemoSplit(api: ApiClient, model: string, nearDuplicateSeconds: number, log: StoryLog): Promise<void> {
  const path = `${API_PREFIX}/retraining/settings/${encodeURIComponent(model)}`;
  const current = await api.get<RetrainingSettings>(path);
  await api.put(path, { ...current, nearDuplicateSeconds });
  log.say('retrain', `split setting of ${model}: frames of one person on one camera less than ${nearDuplicateSeconds} s apart are one block (near-duplicates)`);
}

/** Starts a run of `base` with an automatic canary, or follows the model's active run when there is one. */
export async function startRun(api: ApiClient, base: string, log: StoryLog): Promise<RetrainingRun> {
  try {
    const run = await api.post<RetrainingRun>(apiPaths.retrainingJobs(), { base, autoCanary: true });
    log.say('retrain', `run ${run.id} of ${run.modelName}@${run.baseVersion} queued (what \`npx edgeloop retrain ${base} --auto-canary\` does)`);
    return run;
  } catch (err) {
    const active = err instanceof ApiError && err.code === 'retraining_in_progress' ? (err.details[0] as { runId?: string } | undefined)?.runId : undefined;
    if (!active) throw err;
    log.say('retrain', `a run of ${base} is already active (${active}): following it`);
    return api.get<RetrainingRun>(apiPaths.retrainingJob(active));
  }
}

/** What changed in a step worth a line (its status, attempt or timing), without the run's progress. */
function stepState(state: RetrainingStepState): string {
  return `${state.status}/${state.attempts}/${state.durationMs ?? ''}`;
}

function stepLine(step: string, state: RetrainingStepState, run: RetrainingRun): string | undefined {
  if (state.status === 'running') return `${step} running${state.attempts > 1 ? ` (attempt ${state.attempts})` : ''} — run ${pct(run.progress)}`;
  if (state.status === 'failed') return `${step} failed after ${state.attempts} attempts`;
  if (state.status !== 'done') return undefined;
  let detail = '';
  if (step === 'build-dataset' && run.dataset) {
    const s = run.dataset.splits;
    detail = `: ${run.dataset.examples} examples of ${run.dataset.identities} identities (train ${s.train}, validation ${s.validation}, calibration ${s.calibration}, holdout ${s.holdout})`;
  }
  return `${step} done${state.durationMs !== null ? ` in ${seconds(state.durationMs)}` : ''} — run ${pct(run.progress)}${detail}`;
}

/** Follows a run to its end, printing each step as it moves and the gate's verdict. */
export async function followRun(api: ApiClient, id: string, clock: StoryClock, log: StoryLog, timeoutMs: number): Promise<RetrainingRun> {
  const seen = new Map<string, string>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await api.get<RetrainingRun>(apiPaths.retrainingJob(id));
    for (const step of RETRAINING_STEPS) {
      const state = run.steps[step];
      const line = state && stepLine(step, state, run);
      if (line && seen.get(step) !== stepState(state)) {
        seen.set(step, stepState(state));
        log.say('retrain', line);
      }
      if (step === 'evaluate' && run.report && !seen.has('gate')) {
        seen.set('gate', 'shown');
        const p = run.report.primary;
        const production = p.production === null ? 'no production head' : `production ${(p.production * 100).toFixed(2)}%`;
        log.say('retrain', `gate: ${run.report.verdict} — ${p.metric} ${(p.candidate * 100).toFixed(2)}% vs ${production}`);
        for (const reason of run.report.reasons.slice(0, 4)) log.say('retrain', `  ${reason}`);
      }
    }
    if (!['queued', 'running'].includes(run.status)) {
      if (run.status === 'completed' && run.candidate) {
        log.say('retrain', `run ${run.id} completed: candidate ${run.candidate.name}@${run.candidate.version} registered (alias candidate)`);
      } else log.say('retrain', `run ${run.id} ended ${run.status}${run.error ? `: ${run.error}` : ''}`);
      return run;
    }
    if (Date.now() > deadline) throw new Error(`run ${id} did not finish within ${timeoutMs / 1000} s (it is ${run.status} in ${run.step ?? 'no step'})`);
    await clock.sleep(1000);
  }
}

/**
 * Follows the run's canary: the deployment's waves device by device, then `production` moving to the candidate
 * (promoted) or staying (rolled back, skipped). Returns the final run.
 */
export async function followCanary(api: ApiClient, run: RetrainingRun, clock: StoryClock, log: StoryLog, timeoutMs: number): Promise<RetrainingRun> {
  const deadline = Date.now() + timeoutMs;
  const phases = new Map<string, string>();
  let current = run;
  let announced = false;
  for (;;) {
    current = await api.get<RetrainingRun>(apiPaths.retrainingJob(run.id));
    const { state, deploymentId, reason } = current.canary;
    if (deploymentId) {
      const deployment = await api.get<DeploymentResponse>(apiPaths.deployment(deploymentId));
      if (!announced) {
        announced = true;
        const first = deployment.devices.filter((d) => d.batch === 0).map((d) => d.deviceId);
        log.say(
          'canary',
          `${deploymentId}: ${deployment.model.name}@${deployment.model.version} to ${first.join(', ')} first, then the rest of ${deployment.devices.length} workers`,
        );
      }
      for (const d of deployment.devices) {
        const line = `${d.phase}${d.state ? ` (${d.state})` : ''}`;
        if (phases.get(d.deviceId) !== line) {
          phases.set(d.deviceId, line);
          log.say('canary', `${d.deviceId}: ${line} — wave ${d.batch + 1}`);
        }
      }
    }
    if (state === 'promoted') {
      const production = await api.get<{ version: number }>(apiPaths.modelVersion(current.modelName, 'production'));
      log.say('canary', `${current.modelName}@${current.candidate?.version} promoted: production is now ${current.modelName}@${production.version}`);
      return current;
    }
    if (state === 'rolled_back' || state === 'skipped' || state === 'none') {
      log.say('canary', `${state.replace('_', ' ')}${reason ? `: ${reason}` : ''}; production stays where it was`);
      return current;
    }
    if (Date.now() > deadline) throw new Error(`the canary of ${run.id} did not finish within ${timeoutMs / 1000} s (it is ${state})`);
    await clock.sleep(1000);
  }
}
