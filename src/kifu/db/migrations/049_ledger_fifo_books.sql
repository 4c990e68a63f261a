-- 049_ledger_fifo_books: each FIFO book's replay state, so a catch-up after an append replays only
-- the new fills; and ledger_fill_pnl without its foreign key to trade_events.
--
-- Why: a realized-PnL replay (kifu.ledger.pnl) started at the book's last flat point before the
-- change, and a futures book that is rarely exactly flat was replayed from its first fill after
-- every write: a sync of a few fills cost a scan and two sorts of the whole book.
-- ledger_fifo_books keeps, per book (account, venue, instrument), where the last replay stopped
-- (its last fill), the cumulative bought and sold quantities, cost and proceeds from the point the
-- replay counted from, and the lots of both sides that later fills can still be matched against
-- (every lot ending at or past the matched quantity): a change after that fill continues from
-- there. A change at or before it (an insert, update or delete in the middle of the book) drops
-- the row and replays from the last flat point as before. Written and read by kifu.ledger.pnl
-- only, under the user's ledger lock; account and venue are keyed as the zero uuid when absent.
--
-- The foreign key from ledger_fill_pnl.event_id to trade_events(id) was checked row by row for
-- every row a replay writes: 0.7 s of a 3.6 s replay of 200,000 fills (bench/import.py), for a
-- guarantee nothing needs. The ledger is the only writer of both tables, and a replay writes rows
-- only for the fills it has just read under the user's ledger lock; a deleted fill's row goes with
-- it in the same statement (the delete trigger of trade_events, db/repeatable/ledger_rollups.sql,
-- where ON DELETE CASCADE used to do it), and TRUNCATE of trade_events empties both tables (the
-- truncate trigger).

ALTER TABLE ledger_fill_pnl DROP CONSTRAINT IF EXISTS ledger_fill_pnl_event_id_fkey;

CREATE TABLE IF NOT EXISTS ledger_fifo_books (
    user_id       UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account_key   UUID        NOT NULL,  -- account_id, or the zero uuid
    venue_key     UUID        NOT NULL,  -- venue_id, or the zero uuid
    instrument_id UUID        NOT NULL,
    executed_at   TIMESTAMPTZ NOT NULL,  -- the book's last replayed fill
    event_id      UUID        NOT NULL,
    bought        NUMERIC     NOT NULL,  -- cumulative from the replay's starting point
    sold          NUMERIC     NOT NULL,
    cost          NUMERIC     NOT NULL,  -- Σ qty × price of the buys
    proceeds      NUMERIC     NOT NULL,  -- Σ qty × price of the sells
    -- the lots still to be matched, one array element each: side, start and end on the side's
    -- cumulative quantity axis, and the side's cumulative value at both
    lot_buy       BOOLEAN[]   NOT NULL,
    lot_q0        NUMERIC[]   NOT NULL,
    lot_v0        NUMERIC[]   NOT NULL,
    lot_q1        NUMERIC[]   NOT NULL,
    lot_v1        NUMERIC[]   NOT NULL,
    PRIMARY KEY (user_id, instrument_id, account_key, venue_key)
);
