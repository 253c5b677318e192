import { api } from '../api';
import { Load, Section, Status, Time } from '../components/ui';
import { useResource } from '../resource';

/** One device: what it reports, and every rollout that touched it. */
export default function Device({ params }: { params: string[] }) {
  const id = params[0];
  const device = useResource(() => api.device(id), `device:${id}`, ['device.changed']);
  const history = useResource(async () => (await api.deployments()).filter((d) => d.devices.some((x) => x.deviceId === id)), `history:${id}`, [
    'deployment.progress',
  ]);
  return (
    <>
      <p>
        <a href="/devices">← Devices</a>
      </p>
      <Load resource={device} what="the device">
        {(d) => (
          <>
            <h1>
              {d.name} <Status value={d.presence} />
            </h1>
            <dl class="facts">
              <dt>Id</dt>
              <dd>{d.id}</dd>
              <dt>Running</dt>
              <dd>{d.reported?.running ? `${d.reported.running.name}@${d.reported.running.version}` : '—'}</dd>
              <dt>State</dt>
              <dd>{d.reported ? <Status value={d.reported.state} /> : '—'}</dd>
              <dt>Frames per second</dt>
              <dd>{d.reported ? d.reported.health.fps.toFixed(1) : '—'}</dd>
              <dt>Latency p50 / p95</dt>
              <dd>{d.reported ? `${d.reported.health.latencyMs.p50} / ${d.reported.health.latencyMs.p95} ms` : '—'}</dd>
              <dt>Last seen</dt>
              <dd>
                <Time at={d.lastSeenAt} />
              </dd>
              <dt>Group</dt>
              <dd>{d.group ?? '—'}</dd>
              <dt>Labels</dt>
              <dd>
                {Object.entries(d.labels)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(', ') || '—'}
              </dd>
            </dl>
          </>
        )}
      </Load>
      <Section title="Rollout history">
        <Load resource={history} what="rollouts" empty="No rollout has targeted this device.">
          {(list) => (
            <table>
              <thead>
                <tr>
                  <th scope="col">Deployment</th>
                  <th scope="col">Version</th>
                  <th scope="col">Phase here</th>
                  <th scope="col">Deployment status</th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {list.map((dep) => {
                  const mine = dep.devices.find((x) => x.deviceId === id)!;
                  return (
                    <tr key={dep.id}>
                      <td>
                        <a href={`/deployments/${encodeURIComponent(dep.id)}`}>{dep.id}</a>
                      </td>
                      <td>
                        {dep.model.name}@{dep.model.version}
                      </td>
                      <td>
                        <Status value={mine.phase} /> {mine.failure ? mine.failure.message : ''}
                      </td>
                      <td>
                        <Status value={dep.status} />
                      </td>
                      <td>
                        <Time at={mine.updatedAt} />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
        </Load>
      </Section>
    </>
  );
}
