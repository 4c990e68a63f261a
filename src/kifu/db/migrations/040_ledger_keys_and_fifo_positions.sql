-- 040_ledger_keys_and_fifo_positions: content keys on trade_events, FIFO position columns,
-- and the indexes the ledger's per-request queries need.
--
-- Why: the dedupe key (kifu.ledger.rules) is built from the venue's trade id when there is one,
-- else from the fill's normalised content. content_key is the content form for every event, so a
-- fill that arrives once with an id (exchange sync) and once without (an export file) is still
-- recognised as the same fill. Positions are now computed per account and instrument with FIFO
-- lots (reference §4.2 merged accounts and never computed realized PnL), so they carry the account,
-- the quote asset, PnL and fees in that quote, and the fees that could not be converted.

ALTER TABLE trade_events ADD COLUMN IF NOT EXISTS content_key VARCHAR(64);

-- Cross-source lookup of the same fill by content (used by importers and exchange sync).
CREATE INDEX IF NOT EXISTS idx_trade_events_user_content
    ON trade_events (user_id, content_key);
-- Position rebuild reads one account+instrument's events in time order.
CREATE INDEX IF NOT EXISTS idx_trade_events_user_acct_instr_time
    ON trade_events (user_id, account_id, instrument_id, executed_at, id);
-- GET /instruments: the instruments this user has events for.
CREATE INDEX IF NOT EXISTS idx_trade_events_user_instrument
    ON trade_events (user_id, instrument_id);

ALTER TABLE positions
    ADD COLUMN IF NOT EXISTS account_id       UUID REFERENCES accounts (id) ON DELETE CASCADE,
    ADD COLUMN IF NOT EXISTS quote_asset      VARCHAR(20),
    ADD COLUMN IF NOT EXISTS realized_pnl     NUMERIC,
    ADD COLUMN IF NOT EXISTS fees             NUMERIC,
    ADD COLUMN IF NOT EXISTS unconverted_fees JSONB NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN IF NOT EXISTS event_count      INTEGER NOT NULL DEFAULT 0;

-- One position per (user, account, instrument); rebuilds upsert on it.
CREATE UNIQUE INDEX IF NOT EXISTS idx_positions_user_account_instrument
    ON positions (user_id, account_id, instrument_id);
CREATE INDEX IF NOT EXISTS idx_positions_account_id ON positions (account_id);

-- GET /trades lists a user's trades newest first.
CREATE INDEX IF NOT EXISTS idx_trades_user_time ON trades (user_id, trade_time DESC, id DESC);
