/**
 * Per-device quotas and what bounds a device's footprint. `quota_group_overrides` holds the limits an
 * operator set for a device group (merged over the EDGELOOP_QUOTA_* defaults); `device_quarantines` one row
 * per quarantine (open while `lifted_at` is null, at most one open per device); `dead_letter_counters` counts
 * every dead letter per (device, code, window) — the rows kept in `dead_letters` are a sample of them — and
 * `dead_letter_totals` per code since the start, so the Prometheus metric reads counters, not the table.
 * Dead letters gain the device id and the indexes their paginated route and retention need.
 */
export const sql = `
create table quota_group_overrides (
  device_group text primary key,
  limits jsonb not null,
  updated_by text,
  updated_at timestamptz not null default now()
);

create table device_quarantines (
  id bigserial primary key,
  device_id text not null references devices(id),
  reason text not null,
  strikes integer not null,
  quarantined_at timestamptz not null default now(),
  lifted_at timestamptz,
  lifted_by text
);

create unique index device_quarantines_open on device_quarantines (device_id) where lifted_at is null;

create table dead_letter_counters (
  device_id text not null,
  code text not null,
  window_start timestamptz not null,
  received bigint not null default 0,
  kept bigint not null default 0,
  primary key (device_id, code, window_start)
);

create index dead_letter_counters_window on dead_letter_counters (window_start);

create table dead_letter_totals (
  code text primary key,
  received bigint not null default 0,
  kept bigint not null default 0,
  pruned bigint not null default 0
);

alter table dead_letters add column device_id text;
create index dead_letters_at on dead_letters (at, id);
create index dead_letters_device_at on dead_letters (device_id, at, id);
create index dead_letters_code_at on dead_letters (code, at, id);
create index hard_examples_received on hard_examples (received_at);
`;
