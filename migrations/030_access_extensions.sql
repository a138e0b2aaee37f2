-- More time for a console: an extension is a request of its own (reason, duration, approvers'
-- decisions, audit events) that names the grant it extends. Approved, the live consoles of that
-- grant move to it in the same transaction (access.extended), so they run on without a restart.
alter table access_requests add column extends_id uuid references access_requests (id);
comment on column access_requests.extends_id is
  'The grant this request asks more time for; approved, that grant''s live consoles move to this one.';
create index access_requests_extends_idx on access_requests (extends_id) where extends_id is not null;
