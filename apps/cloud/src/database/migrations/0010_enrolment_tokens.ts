/**
 * Zero-touch enrolment. `enrolment_tokens` holds one row per token an operator created: the sha256 of the
 * token (never the token), the group and labels it stamps on the devices it enrols, how many may enrol
 * (`uses` never passes `max_uses`), its expiry and revocation. `device_enrolments` records each enrolment
 * by the device's nonce, so a replayed request is refused instead of making a second device.
 */
export const sql = `
create table enrolment_tokens (
  id text primary key,
  token_hash char(64) not null unique,
  device_group text not null,
  labels jsonb not null default '{}'::jsonb,
  description text,
  max_uses integer not null check (max_uses > 0),
  uses integer not null default 0 check (uses >= 0 and uses <= max_uses),
  expires_at timestamptz not null,
  created_at timestamptz not null default now(),
  created_by text,
  revoked_at timestamptz
);

create table device_enrolments (
  nonce text primary key,
  token_id text not null references enrolment_tokens (id),
  device_id text not null unique,
  enrolled_at timestamptz not null default now()
);

create index device_enrolments_token on device_enrolments (token_id, enrolled_at);
`;
