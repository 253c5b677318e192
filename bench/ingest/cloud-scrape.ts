import { performance } from 'node:perf_hooks';

/** What one scrape of the cloud's Prometheus `/metrics` says about ingest. */
export interface IngestScrape {
  /** performance.now() when the answer arrived. */
  at: number;
  /** `edgeloop_ingest_total{counter="frames"}`: frames whose batch is in the SQL aggregates (committed). */
  frames: number;
  batches: number;
  duplicates: number;
  invalidJobs: number;
  /** `edgeloop_mqtt_messages{outcome="received"}`: messages the cloud's MQTT client took from the broker. */
  received: number;
  invalidMessages: number;
  waiting: number;
  active: number;
  failed: number;
}

const metricValue = (text: string, name: string, label?: string): number => {
  const selector = label ? `${name}{${label}}` : name;
  const line = text.split('\n').find((l) => l.startsWith(`${selector} `));
  return line ? Number(line.slice(selector.length + 1)) : 0;
};

/** Scrapes `GET /metrics` (SQL counters, queue depth from Redis, MQTT messages of this replica). */
export async function scrapeIngest(cloudUrl: string): Promise<IngestScrape> {
  const res = await fetch(`${cloudUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}: ${text.slice(0, 200)}`);
  return {
    at: performance.now(),
    frames: metricValue(text, 'edgeloop_ingest_total', 'counter="frames"'),
    batches: metricValue(text, 'edgeloop_ingest_total', 'counter="batches"'),
    duplicates: metricValue(text, 'edgeloop_ingest_total', 'counter="batches_duplicate"'),
    invalidJobs: metricValue(text, 'edgeloop_ingest_total', 'counter="jobs_invalid"'),
    received: metricValue(text, 'edgeloop_mqtt_messages', 'outcome="received"'),
    invalidMessages: metricValue(text, 'edgeloop_mqtt_messages', 'outcome="invalid"'),
    waiting: metricValue(text, 'edgeloop_predictions_queue_jobs', 'state="waiting"'),
    active: metricValue(text, 'edgeloop_predictions_queue_jobs', 'state="active"'),
    failed: metricValue(text, 'edgeloop_predictions_queue_jobs', 'state="failed"'),
  };
}
