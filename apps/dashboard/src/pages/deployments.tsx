import { api } from '../api';
import { Load, Status, Time } from '../components/ui';
import { useResource } from '../resource';

export default function Deployments() {
  const deployments = useResource(() => api.deployments(), 'deployments', [
    'deployment.progress',
    'deployment.completed',
    'deployment.failed',
    'deployment.rolled_back',
  ]);
  return (
    <>
      <h1>Deployments</h1>
      <Load
        resource={deployments}
        what="deployments"
        empty={
          <>
            No deployment yet. Start one with <code>edgeloop deploy</code>.
          </>
        }
      >
        {(list) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Deployment</th>
                <th scope="col">Version</th>
                <th scope="col">Strategy</th>
                <th scope="col">Status</th>
                <th scope="col">Devices</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {list.map((d) => (
                <tr key={d.id}>
                  <td>
                    <a href={`/deployments/${encodeURIComponent(d.id)}`}>{d.id}</a>
                  </td>
                  <td>
                    {d.model.name}@{d.model.version}
                  </td>
                  <td>{d.strategy.type === 'canary' ? `canary ${d.strategy.percent}%, batches of ${d.strategy.batchSize}` : 'all at once'}</td>
                  <td>
                    <Status value={d.status} />
                  </td>
                  <td>
                    {d.devices.filter((x) => x.phase === 'active').length}/{d.devices.length} active
                  </td>
                  <td>
                    <Time at={d.updatedAt} />
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
