/**
 * The rows of docs/benchmarks.md's Summary table: for each figure, which results files hold it and how
 * to read one measurement (a "sample") out of a run's document. A run document may hold several samples
 * (a bench that repeats its measurement 3 times in one invocation); the table gives the range over the
 * newest samples of every run kept (bench/common/results-file.ts).
 */

/** One measurement read from a results document. */
export interface Sample {
  value: number;
  /** 1-minute load average of the machine around the measurement, when the bench recorded it. */
  load?: number;
  /** Whether this sample meets the target when that is more than its value against the bound. */
  met?: boolean;
}

export interface SummaryRow {
  benchmark: string;
  /** Results files (names in bench/results, a trailing `*` matches any suffix). */
  files: string[];
  unit: string;
  /** Decimals shown. */
  digits: number;
  /** The target: `value <= bound` ('max') or `value >= bound` ('min'); none: reported only. */
  target?: { kind: 'max' | 'min'; bound: number };
  /** Samples of one run's document; [] when the document does not hold this figure. */
  samples(doc: Doc, file: string): Sample[];
}

// The documents are JSON written by the benches; each reader checks the shape it needs as it goes.
export type Doc = any;

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The 1-minute load average a document recorded at its start, in any of the benches' spellings. */
export function docLoad(doc: Doc): number | undefined {
  const m = doc?.machine ?? {};
  return (
    num(m.loadAverage?.before?.[0]) ??
    num(m.loadAverageBefore?.[0]) ??
    num(doc?.loadAverage?.start?.[0]) ??
    num(doc?.loadAverage?.before?.[0]) ??
    num(doc?.load?.before?.[0])
  );
}

const sample = (value: unknown, load: unknown): Sample[] => {
  const v = num(value);
  return v === undefined ? [] : [{ value: v, load: num(load) }];
};

/** The rollout bench's runs of `devices` devices, request → completed (the POST plus completion after it). */
function rolloutFromRequest(doc: Doc, devices: number): Sample[] {
  const runs: Doc[] = doc?.convergence?.runs ?? [];
  return runs
    .filter((r) => r?.devices === devices && (r.failures ?? []).length === 0)
    .flatMap((r) =>
      sample(
        num(r.postMs) !== undefined && num(r.completedSeenMs) !== undefined ? (r.postMs + r.completedSeenMs) / 1000 : undefined,
        r.loadAverage?.before?.[0] ?? docLoad(doc),
      ),
    );
}

/** The retrain bench's runs of one size (`identities`), skipping profiled invocations (slower by design). */
function retrainRuns(doc: Doc, identities: number): Doc[] {
  if (doc?.settings?.profile === true) return [];
  const sizes: Doc[] = doc?.sizes ?? [];
  return sizes.filter((s) => s?.size?.identities === identities).flatMap((s) => (s.runs ?? []).filter((r: Doc) => r?.status === 'completed'));
}

/** The ingest bench's runs with the cloud's defaults (no env overrides) and the edge's current encoding. */
const ingestDefaults = (doc: Doc): Doc[] =>
  (doc?.endToEnd ?? []).filter((r: Doc) => Object.keys(r?.env ?? {}).length === 0 && r?.encoding !== 'json' && !/\bJSON\b/.test(String(r?.name)));

const edgeSteady = (doc: Doc): Doc[] => (doc?.memory?.steady ?? []).filter((s: Doc) => s?.settings !== 'without allocator settings');

/** Trigger → candidate registered for one size of the retrain bench, in seconds. */
function retrainTimeRow(identities: number, size: string, boundS: number): SummaryRow {
  return {
    benchmark: `retrain: ${size}, trigger → candidate registered`,
    files: ['retrain.json', 'retrain-*'],
    unit: 's',
    digits: 1,
    target: { kind: 'max', bound: boundS },
    samples: (d) =>
      retrainRuns(d, identities).flatMap((r: Doc) => sample(num(r?.triggerToEndMs) !== undefined ? r.triggerToEndMs / 1000 : undefined, r?.loadavgStart?.[0])),
  };
}

export const SUMMARY_ROWS: SummaryRow[] = [
  {
    benchmark: 'vision: pipeline from a decoded frame vs raw `session.run` (one face)',
    files: ['vision.json'],
    unit: '×',
    digits: 2,
    target: { kind: 'max', bound: 1.15 },
    samples: (d) => sample(d?.oneFace?.overhead?.pipelineFromDecodedVsRaw, docLoad(d)),
  },
  {
    benchmark: 'vision: pipeline from JPEG bytes vs raw `session.run` (one face)',
    files: ['vision.json'],
    unit: '×',
    digits: 2,
    target: { kind: 'max', bound: 1.15 },
    samples: (d) => sample(d?.oneFace?.overhead?.pipelineVsRaw, docLoad(d)),
  },
  {
    benchmark: 'vision: fps vs `@vladmandic/human` (one face; 2–4 faces)',
    files: ['vision.json'],
    unit: '×',
    digits: 1,
    target: { kind: 'min', bound: 2 },
    samples: (d) => [...sample(d?.oneFace?.speedupVsPeer, docLoad(d)), ...sample(d?.multiFace?.speedupVsPeer, docLoad(d))],
  },
  {
    benchmark: 'edge: frame time from a video source vs raw `session.run` (median, per clip)',
    files: ['vision-video.json'],
    unit: '×',
    digits: 2,
    target: { kind: 'max', bound: 1.1 },
    samples: (d) => (d?.videoSource ?? []).flatMap((v: Doc) => sample(v?.pipelineVsRaw, docLoad(d))),
  },
  {
    benchmark: 'upload: API vs direct minio put (ratio of medians per run)',
    files: ['upload.json'],
    unit: '×',
    digits: 2,
    target: { kind: 'min', bound: 0.8 },
    samples: (d) => sample(d?.apiVsDirect, docLoad(d)),
  },
  {
    benchmark: 'upload: cloud RSS growth during an API upload',
    files: ['upload.json'],
    unit: 'MB',
    digits: 1,
    target: { kind: 'max', bound: 64 },
    // the bench holds the larger of "peak minus just before" and "peak minus the idle cloud" to the bound
    samples: (d) =>
      Array.isArray(d?.rss?.peakAboveIdleMb)
        ? (d.rss.growthMb ?? []).flatMap((g: number, i: number) => sample(Math.max(g, d.rss.peakAboveIdleMb[i] ?? -Infinity), docLoad(d)))
        : (d?.api?.runs ?? []).flatMap((r: Doc) => sample(r?.rss?.growthMb, docLoad(d))),
  },
  {
    benchmark: 'cloud idle RSS on PostgreSQL',
    files: ['cloud-memory.json'],
    unit: 'MB',
    digits: 1,
    target: { kind: 'max', bound: 200 },
    samples: (d) => (d?.starts ?? []).filter((s: Doc) => s?.engine === 'postgres').flatMap((s: Doc) => sample(s?.status?.vmRssMb, s?.loadAverage1m)),
  },
  {
    benchmark: 'cloud idle RSS on PGlite (reported)',
    files: ['cloud-memory.json'],
    unit: 'MB',
    digits: 1,
    samples: (d) => (d?.starts ?? []).filter((s: Doc) => s?.engine === 'pglite').flatMap((s: Doc) => sample(s?.status?.vmRssMb, s?.loadAverage1m)),
  },
  {
    benchmark: 'rollout: 1,000 devices, request → completed',
    files: ['rollout.json', 'rollout-*'],
    unit: 's',
    digits: 1,
    target: { kind: 'max', bound: 10 },
    samples: (d) => rolloutFromRequest(d, 1000),
  },
  {
    benchmark: 'rollout: 5,000 devices, request → completed',
    files: ['rollout.json', 'rollout-*'],
    unit: 's',
    digits: 1,
    target: { kind: 'max', bound: 10 },
    samples: (d) => rolloutFromRequest(d, 5000),
  },
  {
    benchmark: 'rollout: 10,000 devices, request → completed (reported)',
    files: ['rollout.json', 'rollout-*'],
    unit: 's',
    digits: 1,
    samples: (d) => rolloutFromRequest(d, 10000),
  },
  {
    benchmark: 'edge: worker RSS steady with models, own defaults',
    files: ['edge.json'],
    unit: 'MB',
    digits: 1,
    target: { kind: 'max', bound: 135 },
    samples: (d) => edgeSteady(d).flatMap((s: Doc) => sample(s?.steadyRssMb, docLoad(d))),
  },
  {
    benchmark: 'edge: worker RSS peak across head-only switches',
    files: ['edge.json'],
    unit: 'MB',
    digits: 1,
    target: { kind: 'max', bound: 145 },
    samples: (d) => sample(d?.hotSwitch?.rssMb?.max, docLoad(d)),
  },
  {
    benchmark: 'edge: head-only switch, applying → active, median (worker)',
    files: ['edge.json'],
    unit: 'ms',
    digits: 0,
    target: { kind: 'max', bound: 20 },
    samples: (d) => ((d?.hotSwitch?.switches ?? []).length > 1 ? sample(d?.hotSwitch?.switchMs?.median, docLoad(d)) : []),
  },
  {
    benchmark: 'edge: worker RSS after 50 head-only switches minus before',
    files: ['edge.json'],
    unit: 'MB',
    digits: 1,
    target: { kind: 'max', bound: 5 },
    samples: (d) => {
      const r = d?.hotSwitch?.rssMb;
      return (d?.hotSwitch?.switches ?? []).length >= 50 && num(r?.afterLastSwitch) !== undefined && num(r?.beforeSwitches) !== undefined
        ? sample(r.afterLastSwitch - r.beforeSwitches, docLoad(d))
        : [];
    },
  },
  {
    benchmark: 'edge: head-only switch in process, median',
    files: ['edge-switch.json'],
    unit: 'ms',
    digits: 1,
    target: { kind: 'max', bound: 20 },
    samples: (d) => sample(d?.headOnlySwitchMs?.median, docLoad(d)),
  },
  {
    benchmark: 'ingest: predictions/s end to end, defaults',
    files: ['ingest.json'],
    unit: '/s',
    digits: 0,
    target: { kind: 'min', bound: 50000 },
    samples: (d) => ingestDefaults(d).flatMap((r: Doc) => sample(r?.predictionsPerSecond, docLoad(d))),
  },
  {
    benchmark: 'ingest: batches/s vs raw BullMQ jobs/s',
    files: ['ingest.json'],
    unit: '×',
    digits: 2,
    target: { kind: 'min', bound: 0.5 },
    samples: (d) => ingestDefaults(d).flatMap((r: Doc) => sample(r?.batchesPerSecondVsRawJobsPerSecond, docLoad(d))),
  },
  {
    benchmark: 'ingest: `GET /api/v1/health` during the run, max',
    files: ['ingest.json'],
    unit: 'ms',
    digits: 0,
    target: { kind: 'max', bound: 100 },
    samples: (d) => ingestDefaults(d).flatMap((r: Doc) => sample(r?.health?.maxMs, docLoad(d))),
  },
  {
    benchmark: 'ingest: `GET /api/v1/health` on the API replica (no prediction intake; 1 and 2 worker replicas, PostgreSQL), max',
    files: ['ingest.json'],
    unit: 'ms',
    digits: 0,
    target: { kind: 'max', bound: 100 },
    // runs from before EDGELOOP_PREDICTION_INTAKE (the API replica took a share of the batches) do not say so, and are left out
    samples: (d) =>
      (d?.replicas ?? []).filter((r: Doc) => r?.apiPredictionIntake === false).flatMap((r: Doc) => sample(r?.healthOnApiReplica?.maxMs, docLoad(d))),
  },
  {
    benchmark: 'drift: window end → signed webhook received (per episode)',
    files: ['ingest.json'],
    unit: 's',
    digits: 1,
    samples: (d) =>
      (d?.drift?.episodes ?? []).flatMap((e: Doc) => {
        const end = Date.parse(e?.eventWindow?.end);
        const arrived = Date.parse(e?.arrivedAt);
        return e?.signatureVerified === true && Number.isFinite(end) && Number.isFinite(arrived) ? sample((arrived - end) / 1000, docLoad(d)) : [];
      }),
  },
  retrainTimeRow(100, '100 × 20', 60),
  retrainTimeRow(1000, '1,000 × 10', 300),
  {
    benchmark: 'retrain: `GET /api/v1/health` during a run, max (both sizes)',
    files: ['retrain.json', 'retrain-*'],
    unit: 'ms',
    digits: 0,
    target: { kind: 'max', bound: 100 },
    samples: (d) => [...retrainRuns(d, 100), ...retrainRuns(d, 1000)].flatMap((r: Doc) => sample(r?.health?.maxMs, r?.loadavgStart?.[0])),
  },
  {
    benchmark: 'retrain: candidate download / full bundle (1,000 identities)',
    files: ['retrain.json', 'retrain-*'],
    unit: '%',
    digits: 2,
    target: { kind: 'max', bound: 1 },
    samples: (d) => retrainRuns(d, 1000).flatMap((r: Doc) => sample(r?.download?.percentOfFull, r?.loadavgStart?.[0])),
  },
  {
    benchmark: 'image: edge tree on disk, one platform',
    files: ['image.json'],
    unit: 'MiB',
    digits: 1,
    target: { kind: 'max', bound: 150 },
    samples: (d) =>
      (d?.runs ?? []).flatMap((run: Doc) =>
        (Array.isArray(run) ? run : [])
          .filter((t: Doc) => t?.app === 'edge')
          .flatMap((t: Doc) => sample(num(t?.total?.diskBytes) !== undefined ? t.total.diskBytes / 2 ** 20 : undefined, undefined)),
      ),
  },
  {
    benchmark: 'soak: 200 devices, cloud RSS slope after the warm-up (a run is met when every series is flat)',
    files: ['soak.json'],
    unit: 'MB/min',
    digits: 2,
    target: { kind: 'max', bound: 1 },
    samples: (d) =>
      (d?.runs ?? []).flatMap((r: Doc) => {
        const rss = (r?.series ?? []).find((s: Doc) => s?.series === 'cloud RSS');
        // met only when the run's verdict is flat: every series, not the RSS alone
        return sample(rss?.slopePerMinute, r?.loadAverage?.before?.[0]).map((s) => ({ ...s, met: r?.verdict === 'flat' }));
      }),
  },
  {
    benchmark: 'quota: messages/s the cloud rejects vs the raw broker, serving a fleet',
    files: ['quota.json'],
    unit: '×',
    digits: 2,
    target: { kind: 'min', bound: 0.5 },
    samples: (d) =>
      (d?.runs ?? []).flatMap((r: Doc) =>
        sample(
          num(r?.flood?.rejectedPerSecond) !== undefined && num(r?.raw?.perSecond) ? r.flood.rejectedPerSecond / r.raw.perSecond : undefined,
          r?.loadAverage?.before,
        ),
      ),
  },
  {
    benchmark: "quota: the fleet's p99 publish → ack under floods vs alone, over-quota connections held (the default)",
    files: ['quota.json'],
    unit: '×',
    digits: 2,
    target: { kind: 'max', bound: 2 },
    samples: (d) =>
      (d?.held?.runs ?? []).flatMap((r: Doc) =>
        sample(
          num(r?.flood?.latency?.p99) !== undefined && num(r?.fleetOnly?.latency?.p99) ? r.flood.latency.p99 / r.fleetOnly.latency.p99 : undefined,
          r?.loadAverage?.before,
        ),
      ),
  },
];
