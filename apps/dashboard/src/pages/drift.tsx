import type { DriftEventResponse, PredictionMetricsRow } from '@edgeloop/contracts';
import { useMemo } from 'preact/hooks';
import { api } from '../api';
import { TimeChart, type Marker } from '../components/chart';
import { Empty, Load, Section, Time } from '../components/ui';
import { useResource } from '../resource';
import { setQuery, type Location } from '../router';

/** Per model version: score, unknown rate, brightness and sharpness over time, drift events marked, reference shaded. */
export default function Drift({ location }: { location: Location }) {
  const models = useResource(() => api.models(), 'models', ['model.version.created']);
  const model = location.query.get('model') ?? models.data?.[0]?.name ?? '';
  const version =
    Number(location.query.get('version') ?? 0) ||
    models.data?.find((m) => m.name === model)?.aliases.production ||
    models.data?.find((m) => m.name === model)?.latestVersion ||
    0;
  const hours = Number(location.query.get('hours') ?? 24) || 24;
  return (
    <>
      <h1>Drift</h1>
      <Load resource={models} what="models" empty="No model yet, so no drift to show.">
        {(list) => (
          <form class="filters" onSubmit={(e) => e.preventDefault()}>
            <label>
              Model{' '}
              <select value={model} onChange={(e) => setQuery('model', (e.target as HTMLSelectElement).value)}>
                {list.map((m) => (
                  <option key={m.name}>{m.name}</option>
                ))}
              </select>
            </label>
            <label>
              Version <input type="number" min={1} value={version || ''} onInput={(e) => setQuery('version', (e.target as HTMLInputElement).value)} />
            </label>
            <label>
              Hours{' '}
              <select value={String(hours)} onChange={(e) => setQuery('hours', (e.target as HTMLSelectElement).value)}>
                {[1, 6, 24, 72, 168].map((h) => (
                  <option key={h} value={String(h)}>
                    {h}
                  </option>
                ))}
              </select>
            </label>
          </form>
        )}
      </Load>
      {model && version ? <Charts model={model} version={version} hours={hours} /> : null}
    </>
  );
}

function Charts({ model, version, hours }: { model: string; version: number; hours: number }) {
  const key = `${model}@${version}:${hours}`;
  const data = useResource(
    async () => {
      const from = new Date(Date.now() - hours * 3600_000).toISOString();
      const [metrics, events] = await Promise.all([
        api.predictionMetrics({ model: `${model}@${version}`, from, bucket: hours > 72 ? 'hour' : 'minute' }),
        api.driftEvents({ model, version, limit: 100 }),
      ]);
      return { rows: metrics.rows, events, from: Date.parse(from) / 1000, to: Date.now() / 1000 };
    },
    key,
    ['drift.detected'],
  );
  return (
    <Load
      resource={data}
      what="metrics"
      isEmpty={(d) => d.rows.length === 0 && d.events.length === 0}
      empty={`No predictions from ${model}@${version} in the last ${hours} hours.`}
    >
      {(d) => <ChartSet rows={d.rows} events={d.events} span={[d.from, d.to]} />}
    </Load>
  );
}

function ChartSet({ rows, events, span }: { rows: PredictionMetricsRow[]; events: DriftEventResponse[]; span: [number, number] }) {
  const view = useMemo(() => {
    const sorted = [...rows].sort((a, b) => a.bucketStart.localeCompare(b.bucketStart));
    const byBucket = new Map<string, PredictionMetricsRow[]>();
    for (const row of sorted) byBucket.set(row.bucketStart, [...(byBucket.get(row.bucketStart) ?? []), row]);
    const x: number[] = [];
    const mean = (cells: PredictionMetricsRow[], pick: (r: PredictionMetricsRow) => number | null | undefined) => {
      let sum = 0;
      let weight = 0;
      for (const c of cells) {
        const v = pick(c);
        if (v === null || v === undefined) continue;
        sum += v * Math.max(c.frames, 1);
        weight += Math.max(c.frames, 1);
      }
      return weight === 0 ? null : sum / weight;
    };
    const score: (number | null)[] = [];
    const margin: (number | null)[] = [];
    const unknown: (number | null)[] = [];
    const brightness: (number | null)[] = [];
    const sharpness: (number | null)[] = [];
    for (const [bucket, cells] of byBucket) {
      x.push(Date.parse(bucket) / 1000);
      score.push(mean(cells, (c) => c.meanScore));
      margin.push(mean(cells, (c) => c.meanMargin));
      unknown.push(mean(cells, (c) => c.unknownRate));
      brightness.push(mean(cells, (c) => c.stats?.brightness));
      sharpness.push(mean(cells, (c) => c.stats?.sharpness));
    }
    const markers: Marker[] = events.map((e) => ({
      at: Date.parse(e.detectedAt) / 1000,
      label: e.evidence.map((v) => `${v.metric} ${v.value.toFixed(3)} > ${v.threshold}`).join(', '),
    }));
    const ref = events.find((e) => e.reference.kind === 'window')?.reference;
    const shade = ref && ref.kind === 'window' ? { from: Date.parse(ref.start) / 1000, to: Date.parse(ref.end) / 1000 } : null;
    return { x, score, margin, unknown, brightness, sharpness, markers, shade };
  }, [rows, events]);

  const scoreSeries = useMemo(
    () => [
      { label: 'mean top-1 score', values: view.score, color: '#1f6feb' },
      { label: 'mean margin', values: view.margin, color: '#8250df' },
    ],
    [view],
  );
  const unknownSeries = useMemo(() => [{ label: 'unknown rate', values: view.unknown, color: '#bf3989' }], [view]);
  const brightSeries = useMemo(() => [{ label: 'brightness', values: view.brightness, color: '#9a6700' }], [view]);
  const sharpSeries = useMemo(() => [{ label: 'sharpness', values: view.sharpness, color: '#1a7f37' }], [view]);

  return (
    <>
      {view.x.length === 0 ? (
        <Empty>No prediction metrics in this window; drift events are listed below.</Empty>
      ) : (
        <div class="charts">
          <TimeChart title="Score distribution (mean score and margin)" x={view.x} series={scoreSeries} markers={view.markers} shade={view.shade} span={span} />
          <TimeChart title="Unknown rate" x={view.x} series={unknownSeries} markers={view.markers} shade={view.shade} span={span} />
          <TimeChart title="Brightness" x={view.x} series={brightSeries} markers={view.markers} shade={view.shade} span={span} />
          <TimeChart title="Sharpness" x={view.x} series={sharpSeries} markers={view.markers} shade={view.shade} span={span} />
        </div>
      )}
      <Section title="Drift events">
        {events.length === 0 ? (
          <Empty>No drift event for this version.</Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Detected</th>
                <th scope="col">Evidence</th>
                <th scope="col">Window</th>
                <th scope="col">Reference</th>
                <th scope="col">Devices</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr key={e.driftEventId} data-drift-event={e.driftEventId}>
                  <td>
                    <Time at={e.detectedAt} />
                  </td>
                  <td>{e.evidence.map((v) => `${v.metric} = ${v.value.toFixed(3)} (threshold ${v.threshold})`).join('; ')}</td>
                  <td>
                    {new Date(e.window.start).toLocaleTimeString()} – {new Date(e.window.end).toLocaleTimeString()}
                  </td>
                  <td>
                    {e.reference.kind === 'window'
                      ? `${new Date(e.reference.start).toLocaleTimeString()} – ${new Date(e.reference.end).toLocaleTimeString()}`
                      : 'training statistics'}
                  </td>
                  <td>{e.devices.length}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </>
  );
}
