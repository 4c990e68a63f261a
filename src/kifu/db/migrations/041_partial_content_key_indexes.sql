-- 041_partial_content_key_indexes: split the content-key index of 040 by whether the event has a
-- venue trade id.
--
-- Why: an importer only ever looks up content keys of the *other* kind of event (a row without a
-- trade id against stored events with one, and the reverse); rows of the same kind are already
-- caught by the unique dedupe key. With one partial index per kind each lookup probes a small
-- index (often empty for a CSV-only user) instead of one holding every event, which made the
-- first import of a large file markedly slower. Each event still lands in exactly one index.

DROP INDEX IF EXISTS idx_trade_events_user_content;

CREATE INDEX IF NOT EXISTS idx_trade_events_content_with_id
    ON trade_events (user_id, content_key) WHERE external_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_trade_events_content_without_id
    ON trade_events (user_id, content_key) WHERE external_id IS NULL;
