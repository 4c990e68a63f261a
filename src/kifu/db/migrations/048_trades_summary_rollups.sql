-- 048_trades_summary_rollups: what GET /trades/summary reads instead of every trades row.
--
-- Why: the summary ran four queries of nine aggregates over every trade of the user (41 ms of
-- PostgreSQL CPU per request at 10,000 trades, and Home asks twice), so its cost grew with the
-- number of fills. These tables hold the same figures folded per user, exchange, symbol and side
-- (upper case, as the summary groups it), at three grains: all time, per UTC day and per UTC
-- hour. The summary reads the all-time rows when no time filter is given; with one, the whole days
-- of the range, the whole hours of its partial days, and only the trades of its partial hours
-- (kifu.ledger.queries.trade_summary). Every figure of the summary adds up from these sums:
-- counts, Σ quantity × price, Σ realized PnL, the number of rows that carry a realized PnL (for the
-- mean), wins, losses and breakevens.
--
-- Kept by statement triggers on trades (db/repeatable/trades_summary.sql): insert adds, delete
-- subtracts, update of a column the summary reads does both, and groups that reach zero rows go,
-- so every writer, a hand-run SQL statement included, keeps them exact. This file only creates the
-- tables and fills them from the trades that exist (the repeatable, applied after the migrations
-- by the same `kifu db upgrade`, adds the triggers).

CREATE TABLE IF NOT EXISTS trade_summary_totals (
    user_id   UUID    NOT NULL,
    exchange  TEXT    NOT NULL,
    symbol    TEXT    NOT NULL,
    side      TEXT    NOT NULL,  -- upper(trades.side)
    n         BIGINT  NOT NULL,
    volume    NUMERIC NOT NULL,  -- Σ quantity × price
    pnl       NUMERIC NOT NULL,  -- Σ realized_pnl (rows without one count 0)
    pnl_n     BIGINT  NOT NULL,  -- rows with a realized_pnl
    wins      BIGINT  NOT NULL,  -- realized_pnl > 0
    losses    BIGINT  NOT NULL,  -- realized_pnl < 0
    breakeven BIGINT  NOT NULL,  -- realized_pnl = 0
    PRIMARY KEY (user_id, exchange, symbol, side)
);

CREATE TABLE IF NOT EXISTS trade_summary_days (
    user_id   UUID        NOT NULL,
    day       TIMESTAMPTZ NOT NULL,  -- start of the UTC day
    exchange  TEXT        NOT NULL,
    symbol    TEXT        NOT NULL,
    side      TEXT        NOT NULL,
    n         BIGINT      NOT NULL,
    volume    NUMERIC     NOT NULL,
    pnl       NUMERIC     NOT NULL,
    pnl_n     BIGINT      NOT NULL,
    wins      BIGINT      NOT NULL,
    losses    BIGINT      NOT NULL,
    breakeven BIGINT      NOT NULL,
    PRIMARY KEY (user_id, day, exchange, symbol, side)
);

CREATE TABLE IF NOT EXISTS trade_summary_hours (
    user_id   UUID        NOT NULL,
    hour      TIMESTAMPTZ NOT NULL,  -- start of the UTC hour
    exchange  TEXT        NOT NULL,
    symbol    TEXT        NOT NULL,
    side      TEXT        NOT NULL,
    n         BIGINT      NOT NULL,
    volume    NUMERIC     NOT NULL,
    pnl       NUMERIC     NOT NULL,
    pnl_n     BIGINT      NOT NULL,
    wins      BIGINT      NOT NULL,
    losses    BIGINT      NOT NULL,
    breakeven BIGINT      NOT NULL,
    PRIMARY KEY (user_id, hour, exchange, symbol, side)
);

-- Groups emptied by deletes are removed per user right after; these find them.
CREATE INDEX IF NOT EXISTS idx_trade_summary_totals_empty
    ON trade_summary_totals (user_id) WHERE n = 0;
CREATE INDEX IF NOT EXISTS idx_trade_summary_days_empty
    ON trade_summary_days (user_id) WHERE n = 0;
CREATE INDEX IF NOT EXISTS idx_trade_summary_hours_empty
    ON trade_summary_hours (user_id) WHERE n = 0;

INSERT INTO trade_summary_hours
SELECT user_id, date_trunc('hour', trade_time, 'UTC'), exchange, symbol, upper(side),
       count(*), coalesce(sum(quantity * price), 0), coalesce(sum(realized_pnl), 0),
       count(realized_pnl), count(*) FILTER (WHERE realized_pnl > 0),
       count(*) FILTER (WHERE realized_pnl < 0), count(*) FILTER (WHERE realized_pnl = 0)
FROM trades
GROUP BY 1, 2, 3, 4, 5
ON CONFLICT DO NOTHING;

INSERT INTO trade_summary_days
SELECT user_id, date_trunc('day', hour, 'UTC'), exchange, symbol, side, sum(n), sum(volume),
       sum(pnl), sum(pnl_n), sum(wins), sum(losses), sum(breakeven)
FROM trade_summary_hours
GROUP BY 1, 2, 3, 4, 5
ON CONFLICT DO NOTHING;

INSERT INTO trade_summary_totals
SELECT user_id, exchange, symbol, side, sum(n), sum(volume), sum(pnl), sum(pnl_n), sum(wins),
       sum(losses), sum(breakeven)
FROM trade_summary_days
GROUP BY 1, 2, 3, 4
ON CONFLICT DO NOTHING;
