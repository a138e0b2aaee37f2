-- Recording bytes and screen text are compressed with lz4 rather than PostgreSQL's default pglz:
-- terminal output still shrinks several times over, at a fraction of the CPU, so storing a busy
-- console's chunks no longer holds its output back (fleet benchmark: 0.55x → 0.78x of direct
-- OpenSSH). Rows already stored keep their form. A server built without lz4 (PGlite) keeps pglz.
do $$
begin
  alter table recording_chunks alter column data set compression lz4;
  alter table recording_index_queue alter column text set compression lz4;
  alter table recording_text alter column text set compression lz4;
exception when feature_not_supported or invalid_parameter_value then
  raise notice 'lz4 is not available here: recordings keep the default compression';
end
$$;
