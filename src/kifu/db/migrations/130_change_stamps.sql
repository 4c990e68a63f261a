-- 130_change_stamps: a number per user that changes with every change to their fills, and one
-- that changes with every change to their bubbles and outcomes.
--
-- Why: /review/stats, /review/calendar and /review/trend fold a user's bubbles, outcomes and
-- ledger rollups anew on every request (stats: six statements, 8.8 ms at 10,000 fills; 0.15x
-- the floor in bench/api.py), and the client asks for them on every visit to Home and Review
-- while nothing has changed. With these stamps an API process keeps each answer it computed and
-- serves it again after one indexed probe, for as long as both stamps are what they were when
-- the answer was computed (kifu.kit.answers, kifu.review.service).
--
--  * ledger_change_stamps (owner: ledger): bumped by statement triggers on trade_events, the
--    table every ledger figure review reads is derived from (the rollups, FIFO PnL, the curve).
--  * journal_change_stamps (owner: journal): bumped by statement triggers on bubbles and
--    outcomes.
--
-- A stamp is the next value of kifu_change_stamp_seq, never the old one plus one, so a value is
-- never seen twice for a user. The triggers (db/repeatable/change_stamps.sql) write it in the
-- changing statement's own transaction: a reader that sees the new stamp sees the change. They
-- are kept per owner so a long import (ledger) does not hold back a new bubble (journal) on the
-- same row lock. A deleted user's stamps go with the user.

CREATE SEQUENCE IF NOT EXISTS kifu_change_stamp_seq;

CREATE TABLE IF NOT EXISTS ledger_change_stamps (
    user_id UUID   PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    stamp   BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS journal_change_stamps (
    user_id UUID   PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    stamp   BIGINT NOT NULL
);
