-- 049_ledger_fill_pnl_without_event_fk: ledger_fill_pnl no longer references trade_events.
--
-- Why: the foreign key from ledger_fill_pnl.event_id to trade_events(id) was checked row by row
-- for every row a realized-PnL replay writes: 0.7 s of a 3.6 s replay of 200,000 fills
-- (bench/import.py), for a guarantee nothing needs. The ledger is the only writer of both tables,
-- and a replay writes rows only for the fills it has just read under the user's ledger lock; a
-- deleted fill's row goes with it in the same statement (the delete trigger of trade_events,
-- db/repeatable/ledger_rollups.sql, where ON DELETE CASCADE used to do it), and TRUNCATE of
-- trade_events empties it (the truncate trigger).

ALTER TABLE ledger_fill_pnl DROP CONSTRAINT IF EXISTS ledger_fill_pnl_event_id_fkey;
