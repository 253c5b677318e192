/** Registry: models, versions, their files, blobs, aliases, API tokens, settings (signing key) and the audit log. */
export const sql = `
create table models (
  id bigserial primary key,
  name text not null unique,
  created_at timestamptz not null default now()
);

create table blobs (
  sha256 char(64) primary key,
  size bigint not null,
  created_at timestamptz not null default now()
);

create table model_versions (
  id bigserial primary key,
  model_id bigint not null references models(id),
  version integer not null,
  parent integer,
  manifest jsonb not null,
  signature jsonb not null,
  created_by text,
  created_at timestamptz not null default now(),
  unique (model_id, version)
);

create table model_version_files (
  version_id bigint not null references model_versions(id) on delete cascade,
  role text not null,
  sha256 char(64) not null references blobs(sha256),
  size bigint not null,
  format text not null,
  file_name text,
  primary key (version_id, role)
);

create index model_version_files_sha256 on model_version_files (sha256);

create table model_aliases (
  model_id bigint not null references models(id),
  alias text not null,
  version integer not null,
  updated_at timestamptz not null default now(),
  primary key (model_id, alias)
);

create table api_tokens (
  id text primary key,
  name text not null,
  role text not null check (role in ('admin', 'operator', 'viewer')),
  token_hash char(64) not null unique,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);

create table settings (
  key text primary key,
  value jsonb not null,
  created_at timestamptz not null default now()
);

create table audit_log (
  id bigserial primary key,
  at timestamptz not null default now(),
  actor text,
  action text not null,
  subject text not null,
  details jsonb not null default '{}'::jsonb
);
`;
