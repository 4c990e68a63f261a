-- 045_fill_realized_pnl: per-fill FIFO realized PnL (gross of fees), stored when the ledger
-- refreshes or rebuilds positions, so summary packs sum it instead of re-running FIFO over a
-- user's whole history on every generation (issue 6, Speed).
--
-- fill_realized_pnl holds one row per FIFO-eligible fill of an (account, venue, instrument)
-- book: the running bought-minus-sold quantity after the fill and the PnL it realized (NULL when
-- it closed nothing). fill_pnl_books holds, per book, a fingerprint of the fills the rows were
-- computed from; a pack uses the stored rows only when every book's live fingerprint still
-- matches, and otherwise computes FIFO from the fills as before.

CREATE TABLE IF NOT EXISTS fill_realized_pnl (
    event_id      UUID PRIMARY KEY REFERENCES trade_events (id) ON DELETE CASCADE,
    user_id       UUID NOT NULL,
    account_id    UUID NOT NULL,
    venue_id      UUID,
    instrument_id UUID NOT NULL,
    executed_at   TIMESTAMPTZ NOT NULL,
    quote_asset   TEXT,
    spot          BOOLEAN NOT NULL,
    position      NUMERIC NOT NULL,
    realized_pnl  NUMERIC
);

-- Packs read a user's range in time order; refreshes replace one account+instrument's rows.
CREATE INDEX IF NOT EXISTS idx_fill_realized_pnl_user_time
    ON fill_realized_pnl (user_id, executed_at, event_id) INCLUDE (quote_asset, realized_pnl);
CREATE INDEX IF NOT EXISTS idx_fill_realized_pnl_user_book
    ON fill_realized_pnl (user_id, account_id, instrument_id);

CREATE TABLE IF NOT EXISTS fill_pnl_books (
    user_id       UUID NOT NULL,
    account_id    UUID NOT NULL,
    venue_id      UUID,
    instrument_id UUID NOT NULL,
    fills         BIGINT NOT NULL,
    spot_fills    BIGINT NOT NULL,
    net_qty       NUMERIC NOT NULL,
    net_notional  NUMERIC NOT NULL,
    time_sum      NUMERIC NOT NULL,
    time_qty      NUMERIC NOT NULL,
    time_notional NUMERIC NOT NULL,
    last_created  TIMESTAMPTZ NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_fill_pnl_books_user
    ON fill_pnl_books (user_id, account_id, instrument_id);
