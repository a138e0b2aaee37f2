-- Migration 033's comment on console_sessions.handover described the first design. The handover
-- as built is a sequence of phases (db/handover.ts): requested/declined (another broker asked),
-- offered, attaching and paused (a taker attached and froze the process), left (the offerer let go
-- and moved broker_id to the taker, naming where the recording stands). Comment only.
comment on column console_sessions.handover is
  'Set while a console moves between brokers: {phase: requested|declined|offered|attaching|paused|left, taker?, takeover?, at?, seq?, chainHash?, bytes?, tEnd?, leftAt?}; null while one broker carries it.';
