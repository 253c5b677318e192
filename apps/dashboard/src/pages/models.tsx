import type { ModelVersionResponse } from '@edgeloop/contracts';
import { useState } from 'preact/hooks';
import { api } from '../api';
import { Badge, bytes, ErrorBox, Load, Section, Time } from '../components/ui';
import { attempt, useResource } from '../resource';
import { setQuery, type Location } from '../router';
import { useCan } from '../session';

/** The registry: models, and per model its versions with lineage, aliases, files, metrics and signer. */
export default function Models({ location }: { location: Location }) {
  const models = useResource(() => api.models(), 'models', ['model.alias.changed', 'model.version.created']);
  const selected = location.query.get('model') ?? models.data?.[0]?.name;
  return (
    <>
      <h1>Models</h1>
      <Load
        resource={models}
        what="models"
        empty={
          <>
            No model yet. Upload one with <code>edgeloop models push</code>.
          </>
        }
      >
        {(list) => (
          <>
            <nav aria-label="Models" class="tabs">
              {list.map((m) => (
                <a key={m.name} href={`/models?model=${encodeURIComponent(m.name)}`} aria-current={m.name === selected ? 'page' : undefined}>
                  {m.name} <span class="muted">v{m.latestVersion ?? '—'}</span>
                </a>
              ))}
            </nav>
            {selected ? <Versions name={selected} /> : null}
          </>
        )}
      </Load>
    </>
  );
}

function Versions({ name }: { name: string }) {
  const versions = useResource(() => api.versions(name), `versions:${name}`, ['model.alias.changed', 'model.version.created']);
  return (
    <Section title={`Versions of ${name}`} actions={<SetAlias name={name} onDone={versions.reload} />}>
      <Load resource={versions} what="versions">
        {(list) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Lineage</th>
                <th scope="col">Aliases</th>
                <th scope="col">Files</th>
                <th scope="col">Metrics</th>
                <th scope="col">Signed by</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {[...list]
                .sort((a, b) => b.version - a.version)
                .map((v) => (
                  <VersionRow key={v.version} v={v} />
                ))}
            </tbody>
          </table>
        )}
      </Load>
    </Section>
  );
}

function VersionRow({ v }: { v: ModelVersionResponse }) {
  const m = v.manifest;
  return (
    <tr data-version={v.version}>
      <th scope="row">v{v.version}</th>
      <td>
        {m.parent ? `v${m.parent} → v${v.version}` : 'root'} <span class="muted">{m.createdBy}</span>
      </td>
      <td>
        {v.aliases.length === 0 ? (
          <span class="muted">—</span>
        ) : (
          v.aliases.map((a) => (
            <Badge key={a} tone={a === 'production' ? 'ok' : 'info'}>
              {a}
            </Badge>
          ))
        )}
      </td>
      <td>
        <ul class="plain small">
          {m.files.map((f) => (
            <li key={f.role}>
              {f.role} {bytes(f.size)} <code title={f.sha256}>{f.sha256.slice(0, 10)}</code>
            </li>
          ))}
        </ul>
      </td>
      <td>
        <ul class="plain small">
          {Object.entries(m.metrics ?? {}).map(([k, val]) => (
            <li key={k}>
              {k}: {typeof val === 'number' ? val.toFixed(3) : String(val)}
            </li>
          ))}
        </ul>
      </td>
      <td>
        <code>{v.signature.keyId}</code>
      </td>
      <td>
        <Time at={v.createdAt} />
      </td>
    </tr>
  );
}

function SetAlias({ name, onDone }: { name: string; onDone: () => void }) {
  const can = useCan('operator');
  const [alias, setAlias] = useState('production');
  const [version, setVersion] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  if (!can) return null;
  return (
    <form
      class="inline"
      aria-label="Set an alias"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        const failure = await attempt(() => api.setAlias(name, alias, Number(version)));
        setBusy(false);
        setError(failure);
        if (!failure) {
          setQuery('model', name);
          onDone();
        }
      }}
    >
      <label>
        Alias <input value={alias} onInput={(e) => setAlias((e.target as HTMLInputElement).value)} required />
      </label>
      <label>
        Version <input type="number" min={1} value={version} onInput={(e) => setVersion((e.target as HTMLInputElement).value)} required />
      </label>
      <button type="submit" disabled={busy}>
        Set alias
      </button>
      {error ? <ErrorBox message={error} /> : null}
    </form>
  );
}
