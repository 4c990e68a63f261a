-- 025_drop_redundant_indexes: drop four indexes that duplicate the leading columns of a unique index.
--
-- Why: reference schema doc §7.4 item 18. Each of these is fully served by the unique index that
-- PostgreSQL already maintains for a UNIQUE constraint (a B-tree can be scanned in either direction,
-- so the DESC variants add nothing either); they only cost space and write time:
--
--   idx_accounts_user             (user_id)                          covered by accounts_user_id_venue_id_label_key
--   idx_instrument_mappings_venue (venue_id)                         covered by instrument_mappings_venue_id_venue_symbol_key
--   idx_guided_reviews_user_date  (user_id, review_date DESC)        same columns as guided_reviews_user_id_review_date_key
--   idx_fx_rates_pair_time        (base, quote, captured_at DESC)    same columns as fx_rates_base_quote_captured_at_key
--
-- The covering unique indexes also keep the foreign keys accounts.user_id, instrument_mappings.venue_id
-- and guided_reviews.user_id indexed. No constraint, column or unique index changes, and no
-- ON CONFLICT target depends on these non-unique indexes. IF EXISTS makes the file safe on
-- hand-migrated databases where an index may already be missing.

DROP INDEX IF EXISTS idx_accounts_user;
DROP INDEX IF EXISTS idx_instrument_mappings_venue;
DROP INDEX IF EXISTS idx_guided_reviews_user_date;
DROP INDEX IF EXISTS idx_fx_rates_pair_time;
