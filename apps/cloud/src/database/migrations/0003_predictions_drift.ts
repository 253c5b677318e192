/**
 * Prediction ingest: every batch once by (device, seq) — the dedupe key and the raw store, pruned after
 * the retention — per (device, model version, bucket) aggregates, hard examples, drift state and events.
 */
export const sql = `
create table prediction_batches (
  device_id text not null,
  seq bigint not null,
  model_name text not null,
  model_version integer not null,
  window_start timestamptz not null,
  received_at timestamptz not null default now(),
  items integer not null,
  payload text,
  primary key (device_id, seq)
);

create index prediction_batches_received on prediction_batches (received_at);

create table prediction_aggregates (
  device_id text not null,
  model_name text not null,
  model_version integer not null,
  bucket_start timestamptz not null,
  frames bigint not null default 0,
  faces bigint not null default 0,
  stats jsonb not null,
  updated_at timestamptz not null default now(),
  primary key (model_name, model_version, device_id, bucket_start)
);

create index prediction_aggregates_bucket on prediction_aggregates (bucket_start);

create table ingest_counters (
  name text primary key,
  value bigint not null default 0
);

create table hard_examples (
  id text primary key,
  device_id text not null,
  example_id text not null,
  model_name text not null,
  model_version integer not null,
  reason text not null,
  candidate text,
  det_score double precision not null,
  score double precision,
  margin double precision,
  embedding jsonb not null,
  crop_key text,
  captured_at timestamptz not null,
  received_at timestamptz not null default now(),
  label text,
  not_a_face boolean not null default false,
  labelled_by text,
  labelled_at timestamptz,
  unique (device_id, example_id)
);

create index hard_examples_model on hard_examples (model_name, model_version, received_at);

create table drift_state (
  model_name text not null,
  model_version integer not null,
  reference jsonb,
  reference_start timestamptz,
  reference_end timestamptz,
  alarm jsonb,
  last_window_end timestamptz,
  updated_at timestamptz not null default now(),
  primary key (model_name, model_version)
);

create table drift_events (
  id text primary key,
  model_name text not null,
  model_version integer not null,
  detected_at timestamptz not null default now(),
  window_start timestamptz not null,
  window_end timestamptz not null,
  devices jsonb not null,
  evidence jsonb not null,
  reference jsonb not null
);

create index drift_events_model on drift_events (model_name, model_version, detected_at);
`;
