-- A console belongs to the deployment, not to the process that started it (issue #27): a broker
-- that drains hands its browser consoles over and another carries them on, attached to the same
-- container, continuing the same recording. The key a page reattaches with is kept as its
-- SHA-256 so any broker can check it. While a console is between brokers, `handover` says where
-- its recording stands (next chunk, chain hash, bytes, last event time) and when it was left;
-- the broker that takes it sets broker_id to itself and clears it in one conditional update.
alter table console_sessions add column reattach_key_hash bytea;
alter table console_sessions add column handover jsonb;
comment on column console_sessions.reattach_key_hash is
  'SHA-256 of the key the opening page holds to reattach; null for consoles that cannot be reattached (the SSH door).';
comment on column console_sessions.handover is
  'Set while the console is between brokers: {seq, chainHash, bytes, tEnd, leftAt}; null while a broker carries it.';
