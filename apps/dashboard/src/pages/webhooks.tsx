import type { WebhookSubscription } from '@edgeloop/contracts';
import { useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorBox, Load, Section, Status, Time } from '../components/ui';
import { attempt, useResource } from '../resource';
import { setQuery, type Location } from '../router';
import { useCan } from '../session';

/** Subscriptions, their delivery log with every attempt, redelivery, and creation with the secret shown once. */
export default function Webhooks({ location }: { location: Location }) {
  const can = useCan('operator');
  const hooks = useResource(() => api.webhooks(), 'webhooks', []);
  const selected = location.query.get('webhook') ?? hooks.data?.[0]?.id;
  return (
    <>
      <h1>Webhooks</h1>
      {can ? <CreateWebhook onCreated={(w) => (hooks.reload(), setQuery('webhook', w.id))} /> : null}
      <Load resource={hooks} what="webhooks" empty="No subscription yet.">
        {(list) => (
          <table>
            <thead>
              <tr>
                <th scope="col">URL</th>
                <th scope="col">Events</th>
                <th scope="col">Description</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {list.map((w) => (
                <tr key={w.id} aria-selected={w.id === selected}>
                  <td>
                    <a href={`/webhooks?webhook=${encodeURIComponent(w.id)}`}>{w.url}</a>
                  </td>
                  <td>{w.events.join(', ')}</td>
                  <td>{w.description ?? ''}</td>
                  <td>
                    <Time at={w.createdAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Load>
      {selected ? <Deliveries webhookId={selected} can={can} /> : null}
    </>
  );
}

function Deliveries({ webhookId, can }: { webhookId: string; can: boolean }) {
  const deliveries = useResource(() => api.deliveries(webhookId), `deliveries:${webhookId}`, []);
  const [error, setError] = useState<string | undefined>();
  return (
    <Section
      title="Delivery log"
      actions={
        <button type="button" class="link" onClick={deliveries.reload}>
          Refresh
        </button>
      }
    >
      {error ? <ErrorBox message={error} /> : null}
      <Load resource={deliveries} what="deliveries" empty="Nothing delivered yet.">
        {(list) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Created</th>
                {can ? <th scope="col">Action</th> : null}
              </tr>
            </thead>
            <tbody>
              {list.map((d) => (
                <tr key={d.id}>
                  <td>{d.event}</td>
                  <td>
                    <Status value={d.status} />
                  </td>
                  <td>
                    <ol class="plain small">
                      {d.attempts.map((a) => (
                        <li key={a.attempt}>
                          #{a.attempt} {a.statusCode ?? 'no answer'} in {Math.round(a.latencyMs)} ms {a.error ? `— ${a.error}` : ''}
                        </li>
                      ))}
                    </ol>
                  </td>
                  <td>
                    <Time at={d.createdAt} />
                  </td>
                  {can ? (
                    <td>
                      <button type="button" onClick={async () => (setError(await attempt(() => api.redeliver(webhookId, d.id))), deliveries.reload())}>
                        Redeliver
                      </button>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Load>
    </Section>
  );
}

function CreateWebhook({ onCreated }: { onCreated: (w: WebhookSubscription) => void }) {
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState('*');
  const [description, setDescription] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [secret, setSecret] = useState<string | undefined>();
  return (
    <form
      class="card"
      aria-label="Create a webhook"
      onSubmit={async (e) => {
        e.preventDefault();
        let created: WebhookSubscription | undefined;
        const failure = await attempt(async () => {
          created = await api.createWebhook({
            url: url.trim(),
            events: events
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean) as WebhookSubscription['events'],
            ...(description.trim() ? { description: description.trim() } : {}),
          });
        });
        setError(failure);
        if (created) {
          setSecret(created.secret);
          setUrl('');
          setDescription('');
          onCreated(created);
        }
      }}
    >
      <h2>Create a webhook</h2>
      <label>
        URL <input type="url" value={url} onInput={(e) => setUrl((e.target as HTMLInputElement).value)} required />
      </label>
      <label>
        Events (comma separated, * for all) <input value={events} onInput={(e) => setEvents((e.target as HTMLInputElement).value)} required />
      </label>
      <label>
        Description <input value={description} onInput={(e) => setDescription((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit">Create</button>
      {error ? <ErrorBox message={error} /> : null}
      {secret ? (
        <p class="state warn" role="status">
          Signing secret (shown once — copy it now): <code data-testid="webhook-secret">{secret}</code>
        </p>
      ) : null}
    </form>
  );
}
