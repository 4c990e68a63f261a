-- 050_market_candles_and_outcome_state: candle cache, exchange cooldowns, outcome job state, and the
-- per-user indexes the journal endpoints query by.
--
-- Why:
-- * market_candles keeps every closed candle kifu has fetched (the OHLCV of a closed candle never
--   changes), and market_candle_windows records which time ranges were fetched in full, so charts and
--   the outcome job never ask an exchange twice for the same closed candle, and an empty minute (Upbit
--   has no candle for a minute without trades) is known to be empty rather than missing.
-- * market_cooldowns holds "do not call this venue before <until>" after an HTTP 429/418, in the
--   database, so every API process and worker honours it (the reference kept it in one process).
-- * outcome_attempts makes the outcome job claim work (safe on several workers), back off on
--   candles that are not available yet, and mark bubbles whose symbol has no price source once
--   (status 'skipped') instead of re-scanning them every minute forever (reference bug §7.2 #13).
-- * bubbles.updated_at: PUT /bubbles/:id changes memo/tags/labels; the client reads updated_at.
-- * Indexes: bubble lists are per user ordered by candle_time; similar search is per user and
--   symbol; the job scans bubbles by candle_time; notes and manual positions list per user by time.

CREATE TABLE IF NOT EXISTS market_candles (
    source    VARCHAR(20) NOT NULL,  -- binance_futures | binance_spot | upbit
    symbol    VARCHAR(40) NOT NULL,  -- the venue's symbol: BTCUSDT, KRW-BTC
    interval  VARCHAR(5)  NOT NULL,  -- 1m | 15m | 1h | 4h | 1d
    open_time TIMESTAMPTZ NOT NULL,
    open      NUMERIC     NOT NULL,
    high      NUMERIC     NOT NULL,
    low       NUMERIC     NOT NULL,
    close     NUMERIC     NOT NULL,
    volume    NUMERIC     NOT NULL,
    PRIMARY KEY (source, symbol, interval, open_time)
);

-- A range of candle open times [start_at, end_at] fetched completely (all closed).
CREATE TABLE IF NOT EXISTS market_candle_windows (
    source     VARCHAR(20) NOT NULL,
    symbol     VARCHAR(40) NOT NULL,
    interval   VARCHAR(5)  NOT NULL,
    start_at   TIMESTAMPTZ NOT NULL,
    end_at     TIMESTAMPTZ NOT NULL,
    fetched_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (source, symbol, interval, start_at, end_at),
    CHECK (end_at >= start_at)
);

CREATE TABLE IF NOT EXISTS market_cooldowns (
    venue      VARCHAR(20) PRIMARY KEY,  -- binance_futures | binance_spot | upbit
    until      TIMESTAMPTZ NOT NULL,
    reason     TEXT        NOT NULL DEFAULT '',
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TABLE IF NOT EXISTS outcome_attempts (
    bubble_id       UUID        NOT NULL REFERENCES bubbles (id) ON DELETE CASCADE,
    period          VARCHAR(10) NOT NULL CHECK (period IN ('1h', '4h', '1d')),
    status          VARCHAR(10) NOT NULL CHECK (status IN ('retry', 'skipped')),
    attempts        INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error      TEXT,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (bubble_id, period)
);

ALTER TABLE bubbles ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW();

CREATE INDEX IF NOT EXISTS idx_bubbles_user_candle_time ON bubbles (user_id, candle_time DESC, id);
CREATE INDEX IF NOT EXISTS idx_bubbles_user_symbol_candle_time
    ON bubbles (user_id, symbol, candle_time DESC);
CREATE INDEX IF NOT EXISTS idx_bubbles_candle_time ON bubbles (candle_time);
CREATE INDEX IF NOT EXISTS idx_review_notes_user_created ON review_notes (user_id, created_at DESC, id);
CREATE INDEX IF NOT EXISTS idx_manual_positions_user_updated
    ON manual_positions (user_id, updated_at DESC);
CREATE INDEX IF NOT EXISTS idx_trades_user_unlinked ON trades (user_id, trade_time) WHERE bubble_id IS NULL;
