/**
 * The gallery and training data: identities, their enrolment photos (an aligned 112×112 crop in S3 under
 * its sha256), and embeddings of photos and hard examples tagged by the sha256 of the embedder that made
 * them (one per owner and embedder, so a new embedder adds rows instead of overwriting the old ones).
 * Hard examples gain a "confirmed unknown" verdict: a stranger, a negative for training.
 */
export const sql = `
create table identities (
  id text primary key,
  name text not null unique,
  display_name text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table enrolment_photos (
  id text primary key,
  identity_id text not null references identities(id) on delete cascade,
  crop_sha256 text not null,
  source_name text not null,
  source_size integer not null,
  detection_score double precision not null,
  created_at timestamptz not null default now()
);

create index enrolment_photos_identity on enrolment_photos (identity_id, created_at);

create table embeddings (
  owner_kind text not null check (owner_kind in ('photo', 'hard_example')),
  owner_id text not null,
  embedder_sha256 text not null,
  vector text not null,
  created_at timestamptz not null default now(),
  primary key (owner_kind, owner_id, embedder_sha256)
);

alter table hard_examples add column unknown_confirmed_at timestamptz;
alter table hard_examples add column unknown_confirmed_by text;
`;
