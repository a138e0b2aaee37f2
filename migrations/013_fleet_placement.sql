-- Fleet nodes: an approval binds the node pool as well as the image and argv, so a target moved
-- to other nodes needs a new decision. '' = the broker's own engine (every request before now).
alter table access_requests add column placement text[] not null default '{}';
comment on column access_requests.placement is
  'The target''s node pool (sorted node names) when the request was made; {} = the broker''s own engine.';
