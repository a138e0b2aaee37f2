-- Migration 020 was rewritten once, after it had landed (0.1.0 development): databases made
-- before that applied it as 020_session_ended_by, which also added console_sessions.ended_by.
-- The broker accepts that earlier 020 (db/migrate.ts SUPERSEDED) and this drops its column, so
-- every database ends in the same schema. A no-op where 020 was the paging index alone.
alter table console_sessions drop column if exists ended_by;
