/**
 * Retraining runs: one immutable record per run (model, base version, trigger, status, current step,
 * overall progress, per-step state with timings and the S3 key of each step's output, dataset sizes,
 * the evaluation report, the registered candidate and its canary). At most one run per model is queued
 * or running: the partial unique index makes a second concurrent start fail, whichever replica it is on.
 * Per-model settings override the defaults of `RetrainingSettingsSchema`.
 */
export const sql = `
create table retraining_runs (
  id text primary key,
  model_name text not null,
  base_version integer not null,
  trigger text not null,
  status text not null,
  step text,
  progress double precision not null default 0,
  steps jsonb not null,
  settings jsonb not null,
  auto_canary boolean not null default false,
  dataset jsonb,
  report jsonb,
  candidate_version integer,
  canary_state text not null default 'none',
  canary_deployment_id text,
  canary_reason text,
  error text,
  flow_generation integer not null default 0,
  created_by text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz
);

create unique index retraining_runs_one_active on retraining_runs (model_name) where status in ('queued', 'running');
create index retraining_runs_model_created on retraining_runs (model_name, created_at desc);
create index retraining_runs_canary on retraining_runs (canary_deployment_id) where canary_deployment_id is not null;

create table retraining_settings (
  model_name text primary key,
  settings jsonb not null,
  updated_at timestamptz not null default now()
);
`;
