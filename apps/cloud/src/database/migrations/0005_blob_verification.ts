/**
 * Content addresses are trusted only once checked. `blob_verifications` records each blob whose bytes were
 * hashed and found equal to its name before they reached `blobs/sha256/<hex>`; an upload treats a stored blob
 * as present only when it has a row here (never by its size in S3). Blobs stored before this migration have
 * no row, so the next upload of the same content writes them again — which repairs a poisoned object.
 * `blob_claims` pins a blob for an upload in flight, so that a failing upload never removes a blob another
 * upload is about to register.
 */
export const sql = `
create table blob_verifications (
  sha256 char(64) primary key,
  size bigint not null,
  verified_at timestamptz not null default now()
);

create table blob_claims (
  upload_id text not null,
  sha256 char(64) not null,
  claimed_at timestamptz not null default now(),
  primary key (upload_id, sha256)
);

create index blob_claims_sha256 on blob_claims (sha256);
`;
