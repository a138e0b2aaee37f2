-- One sign-in a day at the SSH door: after a browser confirms a login, the public key the client
-- proved it holds logs the same user in again, without a browser, until the browser login that
-- confirmed it ends (logout, expiry, an admin's revocation), at most SALLYPORT_SSH_KEY_LOGIN_HOURS,
-- or until the user or an admin revokes the key. Keys are public: nothing here is a secret.
create table ssh_key_logins (
  key_sha256       text        primary key constraint ssh_key_logins_sha_ck check (key_sha256 ~ '^[0-9a-f]{64}$'),
  public_key       text        not null,
  user_id          uuid        not null references users (id),
  browser_session  bytea       not null references browser_sessions (id_hash) on delete cascade,
  created_at       timestamptz not null default now(),
  expires_at       timestamptz not null,
  last_used_at     timestamptz,
  revoked_at       timestamptz,
  revoked_by       uuid        references users (id)
);
comment on table ssh_key_logins is
  'SSH public keys that log a user in at the SSH door while the browser login that confirmed them lives.';
create index ssh_key_logins_user_idx on ssh_key_logins (user_id);
