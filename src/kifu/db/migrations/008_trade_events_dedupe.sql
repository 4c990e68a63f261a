-- 008_trade_events_dedupe: add trade_events.dedupe_key with a partial unique index to reject duplicate imports.

ALTER TABLE trade_events
    ADD COLUMN dedupe_key VARCHAR(64);

CREATE UNIQUE INDEX idx_trade_events_dedupe
    ON trade_events (user_id, dedupe_key)
    WHERE dedupe_key IS NOT NULL;
