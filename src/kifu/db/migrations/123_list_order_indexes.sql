-- 123_list_order_indexes: the list endpoints' indexes in the order the lists are read.
--
-- Why: GET /bubbles, /notes and /alerts page a user's rows by (time DESC, id DESC), the id
-- breaking ties, but their indexes (migrations 050 and 100) ended in `id` ascending, so
-- PostgreSQL could not read a page off the index: it sorted all of the user's rows for every
-- request (2,000 notes: a scan and a top-N sort, 0.5 ms of the 0.9 ms the statement took in
-- bench/api.py). The same names now cover (user, time DESC, id DESC); read backwards they serve
-- the ascending order too (bubbles ?sort=asc), and every query the old ones served.
-- GET /alert-rules gains the same kind of index.

DROP INDEX IF EXISTS idx_bubbles_user_candle_time;
CREATE INDEX idx_bubbles_user_candle_time ON bubbles (user_id, candle_time DESC, id DESC);

DROP INDEX IF EXISTS idx_review_notes_user_created;
CREATE INDEX idx_review_notes_user_created ON review_notes (user_id, created_at DESC, id DESC);

DROP INDEX IF EXISTS idx_alerts_user_created;
CREATE INDEX idx_alerts_user_created ON alerts (user_id, created_at DESC, id DESC);

CREATE INDEX IF NOT EXISTS idx_alert_rules_user_created
    ON alert_rules (user_id, created_at DESC, id DESC);
