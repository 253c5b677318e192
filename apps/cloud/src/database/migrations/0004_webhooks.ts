/**
 * Webhook subscriptions, the events emitted to them, one delivery per (event, subscription) or
 * redelivery, and every HTTP attempt of a delivery. The exact body sent is kept as text so that
 * every attempt and every redelivery signs and sends the same bytes.
 */
export const sql = `
create table webhooks (
  id text primary key,
  url text not null,
  events text[] not null,
  secret text not null,
  description text,
  created_by text,
  created_at timestamptz not null default now()
);

create table webhook_events (
  id text primary key,
  type text not null,
  body text not null,
  created_at timestamptz not null default now()
);

create index webhook_events_created on webhook_events (created_at);

create table webhook_deliveries (
  id text primary key,
  webhook_id text not null references webhooks(id) on delete cascade,
  event_id text not null references webhook_events(id),
  redelivery_of text,
  status text not null default 'pending',
  enqueued boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create index webhook_deliveries_webhook on webhook_deliveries (webhook_id, created_at desc);

create index webhook_deliveries_pending on webhook_deliveries (created_at) where status = 'pending';

create table webhook_attempts (
  id bigserial primary key,
  delivery_id text not null references webhook_deliveries(id) on delete cascade,
  attempt integer not null,
  at timestamptz not null,
  status_code integer,
  latency_ms double precision not null,
  error text,
  response_excerpt text,
  next_retry_at timestamptz
);

create index webhook_attempts_delivery on webhook_attempts (delivery_id, id);

create table webhook_emit_failures (
  id bigserial primary key,
  at timestamptz not null default now(),
  type text not null,
  message text not null,
  data_excerpt text
);
`;
