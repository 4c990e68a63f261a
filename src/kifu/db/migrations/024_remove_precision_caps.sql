-- 024_remove_precision_caps: make the remaining capped money/price/quantity/percent columns unconstrained NUMERIC.
--
-- Why: reference schema doc §7.2 item 6. Migration 014 made trades.quantity/price/realized_pnl and
-- bubbles.price unconstrained NUMERIC to stop overflow on extreme exchange fills, but left the columns
-- derived from or copied from them capped. Those still overflow ("numeric field overflow") on the same
-- fills and silently round to 8 or 10 decimals. This file finishes what 014 started, the same way:
--
--   outcomes:        reference_price, outcome_price, pnl_percent              NUMERIC(18,8)  -> NUMERIC
--   alerts:          trigger_price                                            NUMERIC(18,8)  -> NUMERIC
--   alert_outcomes:  reference_price, outcome_price, pnl_percent              NUMERIC(18,8)  -> NUMERIC
--   trade_events:    qty, price, fee                                          NUMERIC(30,10) -> NUMERIC
--   positions:       size, avg_entry, avg_exit, realized_pnl_usdt,
--                    realized_pnl_krw, fees_usdt, fees_krw,
--                    buy_qty, sell_qty, buy_notional, sell_notional           NUMERIC(30,10) -> NUMERIC
--
-- Widening NUMERIC(p,s) to NUMERIC never loses data and needs no table rewrite in PostgreSQL (only the
-- type modifier is dropped); none of these columns is indexed. Nullability and defaults
-- (positions.size DEFAULT 0) are unchanged. Re-running the file is harmless.
-- Deliberately left alone: manual_positions (user-typed values, §7.7) and fx_rates.rate (unused, §7.6).

ALTER TABLE outcomes
    ALTER COLUMN reference_price TYPE NUMERIC,
    ALTER COLUMN outcome_price   TYPE NUMERIC,
    ALTER COLUMN pnl_percent     TYPE NUMERIC;

ALTER TABLE alerts
    ALTER COLUMN trigger_price TYPE NUMERIC;

ALTER TABLE alert_outcomes
    ALTER COLUMN reference_price TYPE NUMERIC,
    ALTER COLUMN outcome_price   TYPE NUMERIC,
    ALTER COLUMN pnl_percent     TYPE NUMERIC;

ALTER TABLE trade_events
    ALTER COLUMN qty   TYPE NUMERIC,
    ALTER COLUMN price TYPE NUMERIC,
    ALTER COLUMN fee   TYPE NUMERIC;

ALTER TABLE positions
    ALTER COLUMN size              TYPE NUMERIC,
    ALTER COLUMN avg_entry         TYPE NUMERIC,
    ALTER COLUMN avg_exit          TYPE NUMERIC,
    ALTER COLUMN realized_pnl_usdt TYPE NUMERIC,
    ALTER COLUMN realized_pnl_krw  TYPE NUMERIC,
    ALTER COLUMN fees_usdt         TYPE NUMERIC,
    ALTER COLUMN fees_krw          TYPE NUMERIC,
    ALTER COLUMN buy_qty           TYPE NUMERIC,
    ALTER COLUMN sell_qty          TYPE NUMERIC,
    ALTER COLUMN buy_notional      TYPE NUMERIC,
    ALTER COLUMN sell_notional     TYPE NUMERIC;
