/**
 * Dashboard sign-in. `dashboard_sessions` holds one row per browser session: the sha256 of the random
 * session id the HttpOnly cookie carries (never the id itself), the API token it was opened with (revoking
 * the token ends its sessions) and an expiry. `dashboard_sign_in_links` holds single-use, short-lived codes
 * an admin creates (`npm start` prints one) that open a session for the admin's token once.
 */
export const sql = `
create table dashboard_sessions (
  id_hash char(64) primary key,
  token_id text not null references api_tokens (id) on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null
);

create index dashboard_sessions_expires on dashboard_sessions (expires_at);

create table dashboard_sign_in_links (
  code_hash char(64) primary key,
  token_id text not null references api_tokens (id) on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);
`;
