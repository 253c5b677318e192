import { api } from '../api';
import { Load, Status, Time } from '../components/ui';
import { useResource } from '../resource';
import { setQuery, type Location } from '../router';

/** Every device with presence, version, fps and last seen; filters live in the URL. */
export default function Devices({ location }: { location: Location }) {
  const devices = useResource(() => api.devices(), 'devices', ['device.changed']);
  const search = location.query.get('q') ?? '';
  const presence = location.query.get('presence') ?? '';
  const group = location.query.get('group') ?? '';
  return (
    <>
      <h1>Devices</h1>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Search <input type="search" value={search} onInput={(e) => setQuery('q', (e.target as HTMLInputElement).value)} placeholder="id, name or label" />
        </label>
        <label>
          Presence{' '}
          <select value={presence} onChange={(e) => setQuery('presence', (e.target as HTMLSelectElement).value)}>
            <option value="">any</option>
            <option value="online">online</option>
            <option value="offline">offline</option>
            <option value="unknown">unknown</option>
          </select>
        </label>
        <label>
          Group <input value={group} onInput={(e) => setQuery('group', (e.target as HTMLInputElement).value)} />
        </label>
      </form>
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
          const needle = search.toLowerCase();
          const shown = list.filter(
            (d) =>
              (!presence || d.presence === presence) &&
              (!group || d.group === group) &&
              (!needle || [d.id, d.name, ...Object.entries(d.labels).map(([k, v]) => `${k}=${v}`)].some((s) => s.toLowerCase().includes(needle))),
          );
          if (shown.length === 0) return <p class="state empty">No device matches these filters.</p>;
          return (
            <table>
              <caption class="sr-only">Devices</caption>
              <thead>
                <tr>
                  <th scope="col">Device</th>
                  <th scope="col">Presence</th>
                  <th scope="col">Version</th>
                  <th scope="col">State</th>
                  <th scope="col">FPS</th>
                  <th scope="col">Last seen</th>
                  <th scope="col">Group / labels</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((d) => (
                  <tr key={d.id} data-device={d.id}>
                    <td>
                      <a href={`/devices/${encodeURIComponent(d.id)}`}>{d.name}</a> <span class="muted">{d.id}</span>
                    </td>
                    <td>
                      <Status value={d.presence} />
                    </td>
                    <td>{d.reported?.running ? `${d.reported.running.name}@${d.reported.running.version}` : '—'}</td>
                    <td>{d.reported ? <Status value={d.reported.state} /> : '—'}</td>
                    <td>{d.reported?.health.fps.toFixed(1) ?? '—'}</td>
                    <td>
                      <Time at={d.lastSeenAt} />
                    </td>
                    <td>
                      {d.group ?? '—'}{' '}
                      {Object.entries(d.labels).map(([k, v]) => (
                        <span class="badge muted" key={k}>
                          {k}={v}
                        </span>
                      ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          );
        }}
      </Load>
    </>
  );
}
