import type { EnrolmentResponse } from '@edgeloop/contracts';
import { useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorBox, Load, Time } from '../components/ui';
import { PhotoDrop } from '../components/photo-drop';
import { attempt, useResource } from '../resource';
import { useCan } from '../session';

/** One person: enrolment photos (aligned crops) and more photos by drag and drop. */
export default function Identity({ params }: { params: string[] }) {
  const id = params[0];
  const can = useCan('operator');
  const identity = useResource(() => api.identity(id), `identity:${id}`, ['identity.changed']);
  const [files, setFiles] = useState<File[]>([]);
  const [error, setError] = useState<string | undefined>();
  const [result, setResult] = useState<EnrolmentResponse | undefined>();
  return (
    <>
      <p>
        <a href="/identities">← Identities</a>
      </p>
      <Load resource={identity} what="the person">
        {(p) => (
          <>
            <h1>{p.displayName ?? p.name}</h1>
            <p class="muted">
              {p.name} · {p.photos} photo(s) · updated <Time at={p.updatedAt} />
            </p>
            {p.enrolmentPhotos.length === 0 ? (
              <p class="state empty">No enrolment photo yet.</p>
            ) : (
              <ul class="photos">
                {p.enrolmentPhotos.map((photo) => (
                  <li key={photo.id}>
                    <img src={photo.cropUrl} alt={`enrolment photo ${photo.sourceName}`} width={112} height={112} loading="lazy" />
                    <div class="small muted">{photo.sourceName}</div>
                  </li>
                ))}
              </ul>
            )}
          </>
        )}
      </Load>
      {can ? (
        <form
          class="card"
          aria-label="Add photos"
          onSubmit={async (e) => {
            e.preventDefault();
            const form = new FormData();
            for (const file of files) form.append('photos', file, file.name);
            let answer: EnrolmentResponse | undefined;
            const failure = await attempt(async () => {
              answer = await api.enrolPhotos(id, form);
            });
            setError(failure);
            setResult(answer);
            if (!failure) {
              setFiles([]);
              identity.reload();
            }
          }}
        >
          <h2>Add photos</h2>
          <PhotoDrop files={files} onFiles={setFiles} onError={setError} />
          <button type="submit" disabled={files.length === 0}>
            Enrol {files.length} photo(s)
          </button>
          {error ? <ErrorBox message={error} /> : null}
          {result ? (
            <ul class="plain small" role="status">
              {result.results.map((r, i) => (
                <li key={i}>{r.status === 'enrolled' ? `${r.file}: enrolled` : `${r.file}: refused — ${r.message}`}</li>
              ))}
            </ul>
          ) : null}
        </form>
      ) : null}
    </>
  );
}
