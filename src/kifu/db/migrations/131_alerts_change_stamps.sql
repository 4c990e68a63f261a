-- 131_alerts_change_stamps: a number per user that changes with every change to their alert
-- rules and alerts.
--
-- Why: GET /alerts and /alert-rules were 0.43-0.50x the floor in bench/api.py (PostgreSQL
-- writing the page as JSON on every request), the last lists below half of it once the others
-- were kept answers (migration 130). With this stamp an API process keeps each page it read and
-- serves it again after one probe of a primary key, until the user's rules or alerts change
-- (kifu.alerts.service; the monitor's state updates bump it too).
--
-- Owner: alerts. Bumped by the statement triggers of db/repeatable/change_stamps.sql, as the
-- stamps of migration 130 are.

CREATE TABLE IF NOT EXISTS alerts_change_stamps (
    user_id UUID   PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    stamp   BIGINT NOT NULL
);
