import type { RetrainingRun } from '@edgeloop/contracts';
import { useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorBox, Load, Progress, Status, Time } from '../components/ui';
import { attempt, useResource } from '../resource';
import { navigate } from '../router';
import { useCan } from '../session';

/** Retraining runs, their progress moving live; start a run. */
export default function Retraining() {
  const can = useCan('operator');
  const runs = useResource(() => api.retrainingRuns(), 'runs', ['retraining.progress', 'retraining.completed', 'retraining.failed']);
  return (
    <>
      <h1>Retraining</h1>
      {can ? <StartRun /> : null}
      <Load resource={runs} what="retraining runs" empty="No retraining has run yet.">
        {(list) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">Base</th>
                <th scope="col">Trigger</th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col">Candidate</th>
                <th scope="col">Started</th>
              </tr>
            </thead>
            <tbody>
              {list.map((r: RetrainingRun) => (
                <tr key={r.id} data-run={r.id}>
                  <td>
                    <a href={`/retraining/${encodeURIComponent(r.id)}`}>{r.id}</a>
                  </td>
                  <td>
                    {r.modelName}@{r.baseVersion}
                  </td>
                  <td>{r.trigger}</td>
                  <td>
                    <Status value={r.status} />
                  </td>
                  <td>
                    <Progress value={r.progress} label={`progress of ${r.id}`} /> <span class="small muted">{r.step ?? ''}</span>
                  </td>
                  <td>{r.candidate ? `${r.candidate.name}@${r.candidate.version}` : '—'}</td>
                  <td>
                    <Time at={r.createdAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Load>
    </>
  );
}

function StartRun() {
  const [base, setBase] = useState('face-id@production');
  const [autoCanary, setAutoCanary] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  return (
    <form
      class="inline card"
      aria-label="Start a retraining run"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        let run: RetrainingRun | undefined;
        const failure = await attempt(async () => {
          run = await api.startRetraining({ base: base.trim(), autoCanary });
        });
        setBusy(false);
        setError(failure);
        if (run) navigate(`/retraining/${encodeURIComponent(run.id)}`);
      }}
    >
      <label>
        Base version <input value={base} onInput={(e) => setBase((e.target as HTMLInputElement).value)} required placeholder="name@version or name@alias" />
      </label>
      <label>
        <input type="checkbox" checked={autoCanary} onChange={(e) => setAutoCanary((e.target as HTMLInputElement).checked)} /> canary automatically
      </label>
      <button type="submit" disabled={busy}>
        Start retraining
      </button>
      {error ? <ErrorBox message={error} /> : null}
    </form>
  );
}
