import type { PredictionBatchEncoding } from '@edgeloop/contracts';
import type { DriftLatencySettings } from './drift-latency';
import type { EndToEndSettings } from './end-to-end';

/** One end-to-end run: a fresh cloud (and SQL) with these variables on top of the bench's. */
export interface EndToEndVariantSettings {
  name: string;
  env: Record<string, string>;
  /** How the devices encode their batches in this run. */
  encoding: PredictionBatchEncoding;
}

export interface IngestBenchSettings {
  endToEnd: Omit<EndToEndSettings, 'encoding'>;
  /** The first is the headline (the cloud's defaults); the others show what a setting is worth. */
  variants: EndToEndVariantSettings[];
  /** The cloud's EDGELOOP_INGEST_CONCURRENCY, and the raw BullMQ worker's concurrency. */
  concurrency: number;
  /** Aggregate bucket of the throughput run (the cloud's default, 60 s). */
  bucketSeconds: number;
  drift: DriftLatencySettings | null;
  /** Probe and CPU-profile the cloud during the throughput run (slows it a little; summary in the results). */
  profile: boolean;
  /** Keep the .cpuprofile files here (default: removed with the temp dir). */
  profileDir: string | null;
  /** `postgres`: a throwaway PostgreSQL cluster from the harness when DATABASE_URL is not set. */
  sql: 'auto' | 'postgres';
  /** Extra variables for the throughput run's cloud (`KEY=VALUE,KEY=VALUE`), for A/B runs of its settings. */
  cloudEnv: Record<string, string>;
  /**
   * Worker replica counts of the replica runs on PostgreSQL (one API replica + that many worker replicas,
   * Mosquitto with a shared subscription); empty: none. Default `1,2` on PostgreSQL, none on PGlite.
   */
  replicas: number[];
  /**
   * Where the S3 server (s3rver) runs: `process`, a process of its own as MinIO / S3 is in a deployment (the
   * default); `bench`, in the bench's process beside the simulated devices (as before; its answers then wait
   * for the devices' work, and the cloud's S3 health check with them).
   */
  s3: 'process' | 'bench';
  /**
   * The results file's name under bench/results (`ingest` → ingest.json and history/ingest.jsonl). Runs that are
   * not the bench's defaults (profiled, A/B arms) go to a file of their own, so the Summary's `ingest.json` rows
   * hold only default runs.
   */
  resultsName: string;
}

/**
 * BENCH_INGEST_DEVICES=12  BENCH_INGEST_FRAMES_PER_BATCH=100  BENCH_INGEST_BATCHES_PER_DEVICE=200
 * BENCH_INGEST_IN_FLIGHT=4  BENCH_INGEST_CONCURRENCY=32  BENCH_INGEST_CENTROID=1  BENCH_INGEST_DRIFT=1
 * BENCH_INGEST_ENCODING=both|columns|json (the end-to-end runs: columns first, the headline; then JSON)
 * BENCH_INGEST_VARIANTS=0 (1: a third end-to-end run, columns with raw payloads not kept)
 * BENCH_INGEST_PROFILE=0  BENCH_INGEST_PROFILE_DIR=  BENCH_INGEST_SQL=auto|postgres
 * BENCH_INGEST_CLOUD_ENV=EDGELOOP_RAW_RETENTION_HOURS=0,…  (throughput run only)
 * BENCH_INGEST_REPLICAS=1,2  (worker replicas behind one API replica, PostgreSQL only; 0 or empty: no replica runs)
 * BENCH_INGEST_S3=process|bench  (the S3 server in its own process, or in the bench's)
 * BENCH_INGEST_RESULTS=ingest  (bench/results/<name>.json; `ingest-…` for runs that are not the defaults)
 */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): IngestBenchSettings {
  const int = (name: string, fallback: number, min: number, max: number) => {
    const value = Number(env[name] ?? fallback);
    if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer from ${min} to ${max}`);
    return value;
  };
  const flag = (name: string, fallback: boolean) => (env[name] === undefined ? fallback : env[name] !== '0');
  const centroid = flag('BENCH_INGEST_CENTROID', true);
  return {
    endToEnd: {
      devices: int('BENCH_INGEST_DEVICES', 12, 1, 200),
      framesPerBatch: int('BENCH_INGEST_FRAMES_PER_BATCH', 100, 1, 500),
      batchesPerDevice: int('BENCH_INGEST_BATCHES_PER_DEVICE', 200, 10, 100_000),
      warmUpBatchesPerDevice: 5,
      inFlightPerDevice: int('BENCH_INGEST_IN_FLIGHT', 4, 1, 1000),
      centroid,
      model: { name: 'ingest-bench', version: 1 },
    },
    variants: ([
      { name: 'cloud defaults, columns encoding', env: {}, encoding: 'columns' },
      { name: 'cloud defaults, JSON (edges before the columns encoding)', env: {}, encoding: 'json' },
      ...(flag('BENCH_INGEST_VARIANTS', false)
        ? [{ name: 'columns, raw payloads not kept (EDGELOOP_RAW_RETENTION_HOURS=0)', env: { EDGELOOP_RAW_RETENTION_HOURS: '0' }, encoding: 'columns' as const }]
        : []),
    ] as EndToEndVariantSettings[]).filter((v) => encodings(env.BENCH_INGEST_ENCODING).includes(v.encoding)),
    concurrency: int('BENCH_INGEST_CONCURRENCY', 32, 1, 256),
    bucketSeconds: 60,
    drift: flag('BENCH_INGEST_DRIFT', true)
      ? {
          bucketSeconds: 1,
          windowSeconds: 3,
          checkSeconds: 1,
          confirmWindows: 2,
          episodes: 3,
          devicesPerVersion: 2,
          batchMs: 500,
          framesPerBatch: 25,
          stableMs: 9000,
          switchSpacingMs: 370,
          centroid,
          modelName: 'drift-bench',
        }
      : null,
    profile: flag('BENCH_INGEST_PROFILE', false),
    profileDir: env.BENCH_INGEST_PROFILE_DIR || null,
    sql: sqlChoice(env.BENCH_INGEST_SQL),
    cloudEnv: cloudEnv(env.BENCH_INGEST_CLOUD_ENV),
    replicas: replicaCounts(env.BENCH_INGEST_REPLICAS, Boolean(env.DATABASE_URL) || sqlChoice(env.BENCH_INGEST_SQL) === 'postgres'),
    s3: s3Choice(env.BENCH_INGEST_S3),
    resultsName: resultsName(env.BENCH_INGEST_RESULTS),
  };
}

function replicaCounts(value: string | undefined, postgres: boolean): number[] {
  if (value === undefined) return postgres ? [1, 2] : [];
  const counts = value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '' && v !== '0')
    .map(Number);
  if (counts.some((n) => !Number.isInteger(n) || n < 1 || n > 8)) throw new Error('BENCH_INGEST_REPLICAS is a list of worker counts from 1 to 8 (0: none)');
  if (counts.length > 0 && !postgres) throw new Error('BENCH_INGEST_REPLICAS needs PostgreSQL (DATABASE_URL or BENCH_INGEST_SQL=postgres)');
  return counts;
}

function resultsName(value: string | undefined): string {
  if (value === undefined || value === '') return 'ingest';
  if (!/^ingest(-[a-z0-9]+)*$/.test(value)) throw new Error('BENCH_INGEST_RESULTS is ingest or ingest-<name> (lower case letters, digits, dashes)');
  return value;
}

function s3Choice(value: string | undefined): 'process' | 'bench' {
  if (value === undefined || value === '' || value === 'process') return 'process';
  if (value === 'bench') return 'bench';
  throw new Error('BENCH_INGEST_S3 is process or bench');
}

function sqlChoice(value: string | undefined): 'auto' | 'postgres' {
  if (value === undefined || value === '' || value === 'auto') return 'auto';
  if (value === 'postgres') return 'postgres';
  throw new Error('BENCH_INGEST_SQL is auto or postgres');
}

function cloudEnv(value: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of (value ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const at = pair.indexOf('=');
    if (at <= 0 || !/^EDGELOOP_[A-Z0-9_]+$/.test(pair.slice(0, at))) throw new Error(`BENCH_INGEST_CLOUD_ENV: "${pair}" is not EDGELOOP_NAME=value`);
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return env;
}

function encodings(value: string | undefined): PredictionBatchEncoding[] {
  if (value === undefined || value === '' || value === 'both') return ['columns', 'json'];
  if (value === 'columns' || value === 'json') return [value];
  throw new Error('BENCH_INGEST_ENCODING must be both, columns or json');
}
