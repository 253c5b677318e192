import type { HardExampleCluster, HardExampleResponse, HardExampleVerdict } from '@edgeloop/contracts';
import { useRef, useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorBox, Load, Section } from '../components/ui';
import { attempt, useResource } from '../resource';
import { setQuery, type Location } from '../router';
import { useCan } from '../session';

const SHORTCUTS = 'Keys: I label as the identity in the box (or the suggestion), N new person, X not a face, S skip, Space select, A select all.';

/** The labelling queue: a grid of crops (or, for private devices, the nearest identity without an image). */
export default function HardExamples({ location }: { location: Location }) {
  const can = useCan('operator');
  const model = location.query.get('model') ?? undefined;
  const examples = useResource(() => api.hardExamples({ labelled: false, model, limit: 200 }), `hard:${model ?? ''}`, ['hard-example.labelled']);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [identity, setIdentity] = useState('');
  const [newPerson, setNewPerson] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  const grid = useRef<HTMLDivElement>(null);
  const newPersonInput = useRef<HTMLInputElement>(null);

  async function label(ids: string[], verdict: HardExampleVerdict, what: string) {
    if (ids.length === 0) return;
    setError(undefined);
    const failure = await attempt(() =>
      ids.length === 1 && verdict.verdict !== 'unknown' ? api.labelHardExample(ids[0], verdict) : api.labelHardExamples(ids, verdict),
    );
    if (failure) {
      setError(failure);
      return;
    }
    setNotice(`Labelled ${ids.length} example(s) as ${what}.`);
    setSelected(new Set());
    examples.reload();
  }

  async function labelNewPerson(ids: string[]) {
    const name = newPerson.trim();
    if (!name) {
      newPersonInput.current?.focus();
      return;
    }
    const failure = await attempt(() => api.createIdentity(name));
    if (failure && !/exists|conflict/i.test(failure)) {
      setError(failure);
      return;
    }
    await label(ids, { verdict: 'identity', identity: name }, `new person ${name}`);
    setNewPerson('');
  }

  function targets(focusedId: string | undefined): string[] {
    return selected.size > 0 ? [...selected] : focusedId ? [focusedId] : [];
  }

  function focusNext(from: HTMLElement) {
    const cards = [...(grid.current?.querySelectorAll<HTMLElement>('[data-example]') ?? [])];
    const next = cards[cards.indexOf(from) + 1] ?? cards[0];
    next?.focus();
  }

  function onKey(e: KeyboardEvent, list: HardExampleResponse[]) {
    const card = (e.target as HTMLElement).closest<HTMLElement>('[data-example]');
    if (!card || !can) return;
    const id = card.dataset.example!;
    const example = list.find((x) => x.id === id);
    const key = e.key.toLowerCase();
    if (key === ' ') {
      e.preventDefault();
      toggle(id);
    } else if (key === 'a') {
      e.preventDefault();
      setSelected(new Set(list.map((x) => x.id)));
    } else if (key === 's' || key === 'arrowright') {
      e.preventDefault();
      focusNext(card);
    } else if (key === 'x') {
      e.preventDefault();
      focusNext(card);
      void label(targets(id), { verdict: 'not_a_face' }, 'not a face');
    } else if (key === 'i') {
      e.preventDefault();
      const name = identity.trim() || example?.candidate;
      if (!name) {
        setError('type an identity first: this example has no suggestion');
        return;
      }
      focusNext(card);
      void label(targets(id), { verdict: 'identity', identity: name }, name);
    } else if (key === 'n') {
      e.preventDefault();
      if (selected.size === 0) setSelected(new Set([id]));
      newPersonInput.current?.focus();
    }
  }

  function toggle(id: string) {
    setSelected((prev) => {
      const next = new Set(prev);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  }

  return (
    <>
      <h1>Hard examples</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Model <input value={model ?? ''} onChange={(e) => setQuery('model', (e.target as HTMLInputElement).value)} placeholder="all" />
        </label>
      </form>
      {can ? (
        <div class="toolbar" aria-label="Label the selection">
          <p class="hint" id="shortcuts">
            {SHORTCUTS}
          </p>
          <label>
            Identity <input value={identity} onInput={(e) => setIdentity((e.target as HTMLInputElement).value)} placeholder="suggestion when empty" />
          </label>
          <button
            type="button"
            disabled={selected.size === 0}
            onClick={() => identity.trim() && label([...selected], { verdict: 'identity', identity: identity.trim() }, identity.trim())}
          >
            Label {selected.size || ''} as identity
          </button>
          <label>
            New person{' '}
            <input
              ref={newPersonInput}
              value={newPerson}
              onInput={(e) => setNewPerson((e.target as HTMLInputElement).value)}
              onKeyDown={(e) => e.key === 'Enter' && (e.preventDefault(), void labelNewPerson([...selected]))}
            />
          </label>
          <button type="button" disabled={selected.size === 0} onClick={() => labelNewPerson([...selected])}>
            Label {selected.size || ''} as new person
          </button>
          <button type="button" disabled={selected.size === 0} onClick={() => label([...selected], { verdict: 'not_a_face' }, 'not a face')}>
            Not a face
          </button>
        </div>
      ) : (
        <p class="state info">You can look, not label: labelling needs the operator role.</p>
      )}
      {error ? <ErrorBox message={error} /> : null}
      {notice ? (
        <p role="status" class="state ok">
          {notice}
        </p>
      ) : null}
      <Load resource={examples} what="hard examples" empty="Nothing to label: the queue is empty.">
        {(list) => (
          <div class="examples" ref={grid} onKeyDown={(e) => onKey(e as unknown as KeyboardEvent, list)} aria-describedby={can ? 'shortcuts' : undefined}>
            {list.map((x) => (
              <ExampleCard
                key={x.id}
                x={x}
                selected={selected.has(x.id)}
                can={can}
                onToggle={() => toggle(x.id)}
                onLabel={(v, what) => label([x.id], v, what)}
              />
            ))}
          </div>
        )}
      </Load>
      <Clusters can={can} onLabelled={examples.reload} />
    </>
  );
}

function ExampleCard({
  x,
  selected,
  can,
  onToggle,
  onLabel,
}: {
  x: HardExampleResponse;
  selected: boolean;
  can: boolean;
  onToggle: () => void;
  onLabel: (v: HardExampleVerdict, what: string) => void;
}) {
  const name = `example ${x.id} from ${x.deviceId}, ${x.reason}${x.candidate ? `, suggested ${x.candidate}` : ''}`;
  return (
    <div class={`example${selected ? ' selected' : ''}`} tabIndex={0} data-example={x.id} role="group" aria-label={name}>
      {x.cropUrl ? (
        <img src={x.cropUrl} alt={`face crop from ${x.deviceId}`} width={112} height={112} loading="lazy" />
      ) : (
        <div class="no-crop">crop kept on the device</div>
      )}
      <div class="meta">
        <div>
          {x.candidate ? (
            <>
              nearest <strong>{x.candidate}</strong>
            </>
          ) : (
            <span class="muted">no suggestion</span>
          )}
        </div>
        <div class="small muted">
          {x.reason} · score {x.score?.toFixed(2) ?? '–'} · margin {x.margin?.toFixed(2) ?? '–'}
        </div>
      </div>
      {can ? (
        <div class="actions">
          <label class="small">
            <input type="checkbox" checked={selected} onChange={onToggle} /> select
          </label>
          {x.candidate ? (
            <button type="button" onClick={() => onLabel({ verdict: 'identity', identity: x.candidate! }, x.candidate!)}>
              It is {x.candidate}
            </button>
          ) : null}
          <button type="button" onClick={() => onLabel({ verdict: 'not_a_face' }, 'not a face')}>
            Not a face
          </button>
        </div>
      ) : null}
    </div>
  );
}

function Clusters({ can, onLabelled }: { can: boolean; onLabelled: () => void }) {
  const clusters = useResource(() => api.hardExampleClusters({ minSize: 2 }), 'clusters', ['hard-example.labelled']);
  return (
    <Section title="Unknown people (clusters of look-alike unknowns)">
      <Load resource={clusters} what="clusters" isEmpty={(d) => d.clusters.length === 0} empty="No cluster of unknowns yet.">
        {(d) => (
          <div class="examples">
            {d.clusters.map((c) => (
              <ClusterCard key={c.representativeId} c={c} can={can} onLabelled={onLabelled} />
            ))}
          </div>
        )}
      </Load>
    </Section>
  );
}

function ClusterCard({ c, can, onLabelled }: { c: HardExampleCluster; can: boolean; onLabelled: () => void }) {
  const [name, setName] = useState('');
  const [error, setError] = useState<string | undefined>();
  return (
    <div class="example" role="group" aria-label={`cluster of ${c.size} unknowns`}>
      {c.representativeCropUrl ? (
        <img src={c.representativeCropUrl} alt="representative face of the cluster" width={112} height={112} />
      ) : (
        <div class="no-crop">no image (private device)</div>
      )}
      <div class="meta">
        {c.size} look-alikes · cohesion {c.cohesion.toFixed(2)}
      </div>
      {can ? (
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            const person = name.trim();
            const created = await attempt(() => api.createIdentity(person));
            if (created && !/exists|conflict/i.test(created)) return setError(created);
            const failure = await attempt(() => api.labelHardExamples(c.ids, { verdict: 'identity', identity: person }));
            setError(failure);
            if (!failure) onLabelled();
          }}
        >
          <label class="small">
            New person <input value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} required />
          </label>
          <button type="submit">Label all {c.size}</button>
          {error ? <ErrorBox message={error} /> : null}
        </form>
      ) : null}
    </div>
  );
}
