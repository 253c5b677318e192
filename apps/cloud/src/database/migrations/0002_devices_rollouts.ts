/** Devices (credentials hashed), their presence and reported state; deployments and per-device progress. */
export const sql = `
create table devices (
  id text primary key,
  name text not null,
  device_group text,
  labels jsonb not null default '{}'::jsonb,
  mqtt_password_hash char(64) not null,
  http_token_hash char(64) not null unique,
  disabled boolean not null default false,
  created_at timestamptz not null default now()
);

create index devices_group on devices (device_group);

create table device_state (
  device_id text primary key references devices(id),
  presence text not null default 'unknown',
  last_seen_at timestamptz,
  reported jsonb,
  updated_at timestamptz not null default now()
);

create table deployments (
  id text primary key,
  model_name text not null,
  model_version integer not null,
  target jsonb not null,
  strategy jsonb not null,
  status text not null,
  phase text not null,
  batch_index integer not null default 0,
  observe_until timestamptz,
  reason text,
  created_by text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create index deployments_status on deployments (status);

create table deployment_devices (
  deployment_id text not null references deployments(id),
  device_id text not null references devices(id),
  wave integer not null,
  previous_name text,
  previous_version integer,
  state text not null default 'pending',
  reason text,
  desired_at timestamptz,
  updated_at timestamptz not null default now(),
  primary key (deployment_id, device_id)
);

create index deployment_devices_device on deployment_devices (device_id);

create table device_desired (
  device_id text primary key references devices(id),
  deployment_id text not null,
  model_name text not null,
  model_version integer not null,
  rollback boolean not null,
  payload jsonb not null,
  updated_at timestamptz not null default now()
);

create table dead_letters (
  id bigserial primary key,
  at timestamptz not null default now(),
  source text not null,
  topic text,
  code text not null,
  message text not null,
  payload_excerpt text
);
`;
