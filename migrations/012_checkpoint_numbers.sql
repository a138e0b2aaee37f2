-- Checkpoints numbered without gaps (n, signed in the payload from now on): a deleted
-- checkpoint leaves a hole the verifier names. Numbers are taken under the audit head's lock.
alter table audit_checkpoints add column n bigint;
update audit_checkpoints c set n = o.n from (select id, row_number() over (order by id) as n from audit_checkpoints) o where o.id = c.id;
alter table audit_checkpoints alter column n set not null, add constraint audit_checkpoints_n_key unique (n);
comment on column audit_checkpoints.n is
  'Consecutive from 1; signed inside the checkpoint, so a gap means a checkpoint was deleted.';
