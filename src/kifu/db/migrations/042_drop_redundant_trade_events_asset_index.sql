-- 042_drop_redundant_trade_events_asset_index: drop idx_trade_events_user_asset (user_id, asset_class).
--
-- Why: every trade_events row written by an import maintains each of its indexes, and this one
-- serves no query. The only reader that filters on asset_class is the timeline
-- (GET /portfolio/timeline), which orders by executed_at under a LIMIT and is answered by
-- idx_trade_events_user_time with asset_class as a row filter; every other per-request query on
-- trade_events leads with user_id plus a more selective column and has its own index
-- (user_time, user_acct_instr_time, user_instrument, the dedupe and content-key indexes). With two
-- values of asset_class the index cannot narrow a user's rows much, so it only cost import time.

DROP INDEX IF EXISTS idx_trade_events_user_asset;
