import { api } from '../api';
import { Badge, Load, Section, Status, Time } from '../components/ui';
import { useResource } from '../resource';

/** The state of the loop at a glance; every card refreshes itself from live events. */
export default function Overview() {
  const devices = useResource(() => api.devices(), 'devices', ['device.changed']);
  const models = useResource(() => api.models(), 'models', ['model.alias.changed', 'model.version.created']);
  const drift = useResource(() => api.driftEvents({ since: new Date(Date.now() - 24 * 3600_000).toISOString(), limit: 20 }), 'drift', ['drift.detected']);
  const runs = useResource(() => api.retrainingRuns(), 'runs', ['retraining.progress']);
  const deployments = useResource(() => api.deployments(), 'deployments', ['deployment.progress']);
  const failed = useResource(failedDeliveries, 'failed-deliveries', []);

  return (
    <>
      <h1>Overview</h1>
      <div class="grid">
        <Section title="Devices">
          <Load
            resource={devices}
            what="devices"
            empty={
              <>
                No devices yet. Provision one with <code>edgeloop devices add</code>.
              </>
            }
          >
            {(list) => {
              const online = list.filter((d) => d.presence === 'online').length;
              return (
                <p class="big">
                  <a href="/devices?presence=online">
                    <strong data-testid="online-count">{online}</strong> online
                  </a>{' '}
                  ·{' '}
                  <a href="/devices?presence=offline">
                    <strong>{list.length - online}</strong> offline or unknown
                  </a>
                </p>
              );
            }}
          </Load>
        </Section>
        <Section title="Versions in production and candidate">
          <Load resource={models} what="models">
            {(list) => (
              <ul class="plain">
                {list.map((m) => (
                  <li key={m.name}>
                    <a href={`/models?model=${encodeURIComponent(m.name)}`}>{m.name}</a>: production{' '}
                    {m.aliases.production ? <Badge tone="ok">v{m.aliases.production}</Badge> : <span class="muted">none</span>}, candidate{' '}
                    {m.aliases.candidate ? <Badge tone="info">v{m.aliases.candidate}</Badge> : <span class="muted">none</span>}
                  </li>
                ))}
              </ul>
            )}
          </Load>
        </Section>
        <Section title="Drift in the last 24 hours">
          <Load resource={drift} what="drift events" empty="No drift detected in the last 24 hours.">
            {(list) => (
              <ul class="plain">
                {list.slice(0, 5).map((e) => (
                  <li key={e.driftEventId}>
                    <a href={`/drift?model=${encodeURIComponent(e.model.name)}&version=${e.model.version}`}>
                      {e.model.name}@{e.model.version}
                    </a>{' '}
                    {e.evidence.map((x) => x.metric).join(', ')} <Time at={e.detectedAt} />
                  </li>
                ))}
              </ul>
            )}
          </Load>
        </Section>
        <Section title="Retraining">
          <Load resource={runs} what="retraining runs" empty="No retraining has run.">
            {(list) => {
              const running = list.filter((r) => r.status === 'running' || r.status === 'queued');
              return running.length === 0 ? (
                <p>
                  Nothing running. Last: <a href={`/retraining/${encodeURIComponent(list[0].id)}`}>{list[0].modelName}</a> <Status value={list[0].status} />
                </p>
              ) : (
                <ul class="plain">
                  {running.map((r) => (
                    <li key={r.id}>
                      <a href={`/retraining/${encodeURIComponent(r.id)}`}>{r.modelName}</a> {r.step ?? 'queued'} {Math.round(r.progress * 100)}%
                    </li>
                  ))}
                </ul>
              );
            }}
          </Load>
        </Section>
        <Section title="Recent deployments">
          <Load resource={deployments} what="deployments">
            {(list) => (
              <ul class="plain">
                {list.slice(0, 5).map((d) => (
                  <li key={d.id}>
                    <a href={`/deployments/${encodeURIComponent(d.id)}`}>
                      {d.model.name}@{d.model.version}
                    </a>{' '}
                    <Status value={d.status} /> <Time at={d.updatedAt} />
                  </li>
                ))}
              </ul>
            )}
          </Load>
        </Section>
        <Section title="Failed webhook deliveries">
          <Load resource={failed} what="failed deliveries" empty="No failed deliveries.">
            {(list) => (
              <ul class="plain">
                {list.slice(0, 5).map((d) => (
                  <li key={d.id}>
                    <a href={`/webhooks?webhook=${encodeURIComponent(d.webhookId)}`}>{d.event}</a> after {d.attempts.length} attempt(s){' '}
                    <Time at={d.createdAt} />
                  </li>
                ))}
              </ul>
            )}
          </Load>
        </Section>
      </div>
    </>
  );
}

async function failedDeliveries() {
  const hooks = await api.webhooks();
  const lists = await Promise.all(hooks.slice(0, 20).map((h) => api.deliveries(h.id, 50)));
  return lists.flat().filter((d) => d.status === 'failed');
}
