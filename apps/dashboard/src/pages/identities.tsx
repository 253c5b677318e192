import { useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorBox, Load, Time } from '../components/ui';
import { PhotoDrop } from '../components/photo-drop';
import { attempt, useResource } from '../resource';
import { navigate } from '../router';
import { useCan } from '../session';

/** The gallery: people and how many enrolment photos each has; add a person from photos. */
export default function Identities() {
  const can = useCan('operator');
  const identities = useResource(() => api.identities(), 'identities', ['identity.changed']);
  return (
    <>
      <h1>Identities</h1>
      {can ? <AddPerson onAdded={identities.reload} /> : null}
      <Load resource={identities} what="identities" empty="No one enrolled yet.">
        {(list) => (
          <ul class="gallery">
            {list.map((p) => (
              <li key={p.id}>
                <a href={`/identities/${encodeURIComponent(p.id)}`}>
                  <strong>{p.displayName ?? p.name}</strong>
                </a>
                <div class="small muted">
                  {p.name} · {p.photos} photo(s) · <Time at={p.updatedAt} />
                </div>
              </li>
            ))}
          </ul>
        )}
      </Load>
    </>
  );
}

function AddPerson({ onAdded }: { onAdded: () => void }) {
  const [name, setName] = useState('');
  const [files, setFiles] = useState<File[]>([]);
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  return (
    <form
      class="card"
      aria-label="Add a person"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(undefined);
        let id: string | undefined;
        const failure = await attempt(async () => {
          id = (await api.createIdentity(name.trim())).id;
        });
        if (failure || !id) {
          setBusy(false);
          return setError(failure);
        }
        if (files.length > 0) {
          const form = new FormData();
          for (const file of files) form.append('photos', file, file.name);
          const upload = await attempt(() => api.enrolPhotos(id!, form));
          if (upload) {
            setBusy(false);
            return setError(`${name} was added, but the photos were not: ${upload}`);
          }
        }
        setBusy(false);
        onAdded();
        navigate(`/identities/${encodeURIComponent(id)}`);
      }}
    >
      <h2>Add a person</h2>
      <label>
        Name <input value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} required />
      </label>
      <PhotoDrop files={files} onFiles={setFiles} onError={setError} />
      <button type="submit" disabled={busy}>
        {busy ? 'Adding…' : 'Add person'}
      </button>
      {error ? <ErrorBox message={error} /> : null}
    </form>
  );
}
