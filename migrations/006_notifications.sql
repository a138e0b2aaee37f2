-- Outbox for access-request notifications (webhooks). A row is written in the same transaction
-- as the state change it reports, and delivered afterwards with retries, so a slow or failing
-- receiver never blocks or undoes a request, and a restart loses nothing.
create table notifications (
  id               bigint      generated always as identity primary key,
  event            text        not null,
  subject          text        not null,
  body             jsonb       not null,
  created_at       timestamptz not null default now(),
  attempts         integer     not null default 0,
  next_attempt_at  timestamptz not null default now(),
  delivered_at     timestamptz,
  gave_up_at       timestamptz,
  last_error       text
);
comment on table notifications is
  'Webhook outbox: rendered payloads (never the webhook URL, which is a secret kept in config).';
create index notifications_due_idx on notifications (next_attempt_at) where delivered_at is null and gave_up_at is null;
