-- The deployment this database belongs to. Its identity (server/db/deployment.ts) mixes this id
-- with the cluster's system identifier and the database's OID, so a pg_restore'd copy (another
-- database, or another cluster) is another deployment at once, and `sallyport restored` gives a
-- physically restored one a new id. Containers carry the identity as a label: a broker only ever
-- removes containers of its own deployment, so a copy started beside production on the same
-- engine cannot take over production's consoles.
create table deployment (
  id             integer     primary key default 1 constraint deployment_one_row check (id = 1),
  deployment_id  uuid        not null default gen_random_uuid(),
  created_at     timestamptz not null default now(),
  restored_at    timestamptz
);
comment on table deployment is
  'One row: the deployment id (rotated by `sallyport restored`); see server/db/deployment.ts.';
insert into deployment default values;
