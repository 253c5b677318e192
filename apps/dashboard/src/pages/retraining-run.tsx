import { RETRAINING_STEPS, type RetrainingRun } from '@edgeloop/contracts';
import { useState } from 'preact/hooks';
import { api } from '../api';
import { Badge, ErrorBox, Load, Progress, Section, Status, Time } from '../components/ui';
import { attempt, useResource } from '../resource';
import { navigate } from '../router';
import { useCan } from '../session';

/** One run: a progress bar per step, dataset sizes, candidate vs production side by side, the gate's verdict. */
export default function RetrainingRunPage({ params }: { params: string[] }) {
  const id = params[0];
  const run = useResource(() => api.retrainingRun(id), `run:${id}`, [
    'retraining.progress',
    'retraining.completed',
    'retraining.failed',
    'model.alias.changed',
  ]);
  return (
    <>
      <p>
        <a href="/retraining">← Retraining</a>
      </p>
      <Load resource={run} what="the run">
        {(r) => <RunView r={r} onChanged={run.reload} />}
      </Load>
    </>
  );
}

function RunView({ r, onChanged }: { r: RetrainingRun; onChanged: () => void }) {
  return (
    <>
      <h1>
        Retraining {r.modelName}@{r.baseVersion} <Status value={r.status} />
      </h1>
      <Progress value={r.progress} label="whole run" />
      {r.error ? <ErrorBox message={r.error} /> : null}
      <Section title="Steps">
        <ol class="steps">
          {RETRAINING_STEPS.map((step) => {
            const s = r.steps?.[step];
            const value = s?.status === 'done' ? 1 : s?.status === 'running' ? 0.5 : 0;
            return (
              <li key={step} data-step={step} data-status={s?.status ?? 'pending'}>
                <span class="step-name">{step}</span> <Status value={s?.status ?? 'pending'} />
                <Progress value={value} label={`step ${step}`} />
                <span class="small muted">{s?.durationMs != null ? `${(s.durationMs / 1000).toFixed(1)} s` : ''}</span>
              </li>
            );
          })}
        </ol>
      </Section>
      {r.dataset ? (
        <Section title="Dataset">
          <p>
            {r.dataset.identities} identities, {r.dataset.examples} examples — train {r.dataset.splits.train}, validation {r.dataset.splits.validation},
            calibration {r.dataset.splits.calibration}, holdout {r.dataset.splits.holdout}
          </p>
          {r.dataset.notes.length > 0 ? (
            <ul class="small">
              {r.dataset.notes.map((n, i) => (
                <li key={i}>{n}</li>
              ))}
            </ul>
          ) : null}
        </Section>
      ) : null}
      {r.report ? <Report r={r} /> : null}
      {r.candidate ? <CandidateActions r={r} onChanged={onChanged} /> : null}
      <p class="small muted">
        Started <Time at={r.createdAt} />
        {r.finishedAt ? (
          <>
            , finished <Time at={r.finishedAt} />
          </>
        ) : null}
      </p>
    </>
  );
}

function Report({ r }: { r: RetrainingRun }) {
  const report = r.report!;
  const names = [...new Set([...Object.keys(report.candidate.metrics), ...Object.keys(report.production?.metrics ?? {})])];
  return (
    <Section title="Evaluation on the same holdout">
      <p data-testid="verdict">
        Gate: <Badge tone={report.verdict === 'passed' ? 'ok' : 'bad'}>{report.verdict}</Badge> ({report.holdoutProbes} holdout probes)
      </p>
      {report.reasons.length > 0 ? (
        <ul>
          {report.reasons.map((reason, i) => (
            <li key={i}>{reason}</li>
          ))}
        </ul>
      ) : null}
      <table>
        <thead>
          <tr>
            <th scope="col">Metric</th>
            <th scope="col">Candidate{r.candidate ? ` v${r.candidate.version}` : ''}</th>
            <th scope="col">Production{report.production ? ` v${report.production.version}` : ''}</th>
            <th scope="col">Δ</th>
          </tr>
        </thead>
        <tbody>
          {names.map((name) => {
            const c = report.candidate.metrics[name];
            const p = report.production?.metrics[name];
            return (
              <tr key={name} class={name === report.primary.metric ? 'primary' : undefined}>
                <th scope="row">{name}</th>
                <td>{c?.toFixed(4) ?? '—'}</td>
                <td>{p?.toFixed(4) ?? '—'}</td>
                <td>{c !== undefined && p !== undefined ? (c - p >= 0 ? '+' : '') + (c - p).toFixed(4) : '—'}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </Section>
  );
}

function CandidateActions({ r, onChanged }: { r: RetrainingRun; onChanged: () => void }) {
  const can = useCan('operator');
  const [group, setGroup] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [done, setDone] = useState<string | undefined>();
  if (!can || !r.candidate) return null;
  const candidate = r.candidate;
  async function act(what: string, write: () => Promise<unknown>) {
    const failure = await attempt(write);
    setError(failure);
    if (!failure) {
      setDone(what);
      onChanged();
    }
  }
  return (
    <Section title={`Candidate ${candidate.name}@${candidate.version}`}>
      <div class="inline">
        <button type="button" onClick={() => act('promoted to production', () => api.setAlias(candidate.name, 'production', candidate.version))}>
          Promote to production
        </button>
        <label>
          Canary group <input value={group} onInput={(e) => setGroup((e.target as HTMLInputElement).value)} placeholder="group" />
        </label>
        <button
          type="button"
          disabled={!group.trim()}
          onClick={() =>
            act('canary started', async () => {
              const deployment = await api.createDeployment({
                model: `${candidate.name}@${candidate.version}`,
                target: { group: group.trim() },
                strategy: { type: 'canary', percent: 10, batchSize: 10 },
              });
              navigate(`/deployments/${encodeURIComponent(deployment.id)}`);
            })
          }
        >
          Start canary
        </button>
        <button type="button" class="danger" onClick={() => act('rejected (candidate alias removed)', () => api.deleteAlias(candidate.name, 'candidate'))}>
          Reject
        </button>
      </div>
      {done ? <p role="status">Candidate {done}.</p> : null}
      {error ? <ErrorBox message={error} /> : null}
    </Section>
  );
}
