-- 045_drop_content_key_index_without_id: drop idx_trade_events_content_without_id
-- (user_id, content_key) WHERE external_id IS NULL, created by 041.
--
-- Why: kifu stores an event without a venue trade id under its content key (dedupe_key =
-- content_key, see kifu.ledger.rules), so the lookup "is this fill already stored without an id"
-- is answered by the unique index idx_trade_events_dedupe on (user_id, dedupe_key) with
-- external_id IS NULL as a row filter. The second index held the same keys again and, being a
-- random SHA-256 key, cost every import about a tenth of its write time
-- (bench/import.py; measured 5.4 s instead of 6.0 s for 200,000 rows). Events written before
-- kifu (adopted reference rows) have no content_key, so neither index ever matched them.

DROP INDEX IF EXISTS idx_trade_events_content_without_id;
