import type { DeploymentResponse } from '@edgeloop/contracts';
import { useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorBox, Load, Section, Status, Time } from '../components/ui';
import { attempt, useResource } from '../resource';
import { useCan } from '../session';

/** One rollout: waves (batches) and per-device phases, updated live; health gate; rollback. */
export default function Deployment({ params }: { params: string[] }) {
  const id = params[0];
  const deployment = useResource(() => api.deployment(id), `deployment:${id}`, [
    'deployment.progress',
    'device.changed',
    'deployment.completed',
    'deployment.failed',
    'deployment.rolled_back',
  ]);
  return (
    <>
      <p>
        <a href="/deployments">← Deployments</a>
      </p>
      <Load resource={deployment} what="the deployment">
        {(d) => <DeploymentView d={d} onChanged={deployment.reload} />}
      </Load>
    </>
  );
}

function DeploymentView({ d, onChanged }: { d: DeploymentResponse; onChanged: () => void }) {
  const batches = [...new Set(d.devices.map((x) => x.batch))].sort((a, b) => a - b);
  const gate = gateState(d);
  return (
    <>
      <h1>
        {d.model.name}@{d.model.version} <Status value={d.status} />
      </h1>
      <dl class="facts">
        <dt>Deployment</dt>
        <dd>{d.id}</dd>
        <dt>Target</dt>
        <dd>
          {d.target.group
            ? `group ${d.target.group}`
            : d.target.devices
              ? `${d.target.devices.length} device(s)`
              : Object.entries(d.target.selector ?? {})
                  .map(([k, v]) => `${k}=${v}`)
                  .join(', ')}
        </dd>
        <dt>Strategy</dt>
        <dd>
          {d.strategy.type === 'canary'
            ? `canary ${d.strategy.percent}%, then batches of ${d.strategy.batchSize}; observe ${d.strategy.observeSeconds} s; auto-rollback ${d.strategy.autoRollback ? 'on' : 'off'}`
            : 'all at once'}
        </dd>
        <dt>Health gate</dt>
        <dd data-testid="gate">{gate}</dd>
        {d.reason ? (
          <>
            <dt>Reason</dt>
            <dd>{d.reason}</dd>
          </>
        ) : null}
      </dl>
      <Rollback d={d} onDone={onChanged} />
      {batches.map((batch) => (
        <Section key={batch} title={batch === 0 && d.strategy.type === 'canary' ? 'Wave 0 (canary)' : `Wave ${batch}`}>
          <table>
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Phase</th>
                <th scope="col">Reported state</th>
                <th scope="col">Previous</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {d.devices
                .filter((x) => x.batch === batch)
                .map((x) => (
                  <tr key={x.deviceId} data-device={x.deviceId}>
                    <td>
                      <a href={`/devices/${encodeURIComponent(x.deviceId)}`}>{x.deviceId}</a>
                    </td>
                    <td data-testid={`phase-${x.deviceId}`}>
                      <Status value={x.phase} />
                    </td>
                    <td>
                      {x.state ? <Status value={x.state} /> : '—'} {x.failure ? <span class="bad-text">{x.failure.message}</span> : null}
                    </td>
                    <td>{x.previous ? `${x.previous.name}@${x.previous.version}` : '—'}</td>
                    <td>
                      <Time at={x.updatedAt} />
                    </td>
                  </tr>
                ))}
            </tbody>
          </table>
        </Section>
      ))}
    </>
  );
}

function gateState(d: DeploymentResponse): string {
  if (d.strategy.type !== 'canary') return 'none (all at once)';
  if (d.status === 'completed') return 'passed';
  if (d.status === 'failed' || d.status === 'rolled_back' || d.status === 'rolling_back') return `failed${d.reason ? `: ${d.reason}` : ''}`;
  const canary = d.devices.filter((x) => x.batch === 0);
  return canary.every((x) => x.phase === 'active') ? `observing (${d.strategy.observeSeconds} s)` : 'waiting for the canary';
}

function Rollback({ d, onDone }: { d: DeploymentResponse; onDone: () => void }) {
  const can = useCan('operator');
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | undefined>();
  if (!can || d.status === 'rolled_back' || d.status === 'rolling_back') return null;
  return (
    <form
      class="inline"
      aria-label="Roll back"
      onSubmit={async (e) => {
        e.preventDefault();
        const failure = await attempt(() => api.rollback(d.id, reason || undefined));
        setError(failure);
        if (!failure) onDone();
      }}
    >
      <label>
        Reason <input value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} placeholder="optional" />
      </label>
      <button type="submit" class="danger">
        Roll back
      </button>
      {error ? <ErrorBox message={error} /> : null}
    </form>
  );
}
